"""The figures: statistics over resolved incidents, the MTTR summary, reports, `/incident stats`
and App Home views, the weekly digest, its chart and its schedule."""
