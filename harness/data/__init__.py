"""Data loaders, one module per data set; all read upstream formats and cache what they build."""
