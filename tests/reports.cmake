# Reports: the CSV writer/reader, merged tables, SVG plots and the HTML page
# (reports/).  Fixture CSVs and the command-line scripts are in tests/reports/.
ni_unit_test(test_csv SOURCES test_csv.c LABELS unit)
ni_unit_test(test_report SOURCES test_report.c LABELS unit)
ni_script_test(test_report_cli tests/reports/report_cli.sh LABELS unit TIMEOUT 120)
# Headless Chromium renders the page: local files only, but slow to start.
ni_script_test(test_report_html tests/reports/report_html.sh LABELS slow TIMEOUT 240)
set_tests_properties(test_report_cli test_report_html PROPERTIES SKIP_RETURN_CODE 77)
# natidle keepalive --log: the layout of a new log, and an old or foreign
# CSV refused and left alone (no server needed: nothing listens on the port).
ni_script_test(keepalive_log_layout tests/keepalive/log_layout.sh LABELS unit TIMEOUT 60)
# natidle keepalive --adaptive --log learning a 12 s lab NAT from nothing,
# with natidle probe on the same network, then report summary, plot and html
# over the log; every count checked against the log's rows counted apart.
# About 4.5 minutes: learning from 60 s down to the NAT's 12 s takes 3.5.
ni_script_test(keepalive_lab_report tests/keepalive/lab_report.sh LABELS lab TIMEOUT 600)
