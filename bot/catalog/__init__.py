"""What the team writes down about its services: the service catalog (`runbooks/catalog.yml`) and
the runbooks (`runbooks/*.md`)."""
