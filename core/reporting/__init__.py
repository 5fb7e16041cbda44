"""A run's results and their renderings: report.json as typed records (results, mix_results,
report_parts), the score-and-compare stage that writes it (build), and report.md/html and the loss
plot rendered from it (documents + templates/)."""
