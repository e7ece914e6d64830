# ingest module: files are added here as the module grows
