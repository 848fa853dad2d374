"""Browser tests: the real Home Assistant of script/run, driven through its web page."""
