"""Reports are renderings of report.json: Markdown, HTML and the loss plot."""
