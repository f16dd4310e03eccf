# The CSV reader (reports/csv.c) fed arbitrary bytes; rows it accepts must
# survive a write and a second read unchanged.
ni_fuzz_target(fuzz_csv fuzz_csv.c)
# The report loader fed arbitrary files, then every writer and lookup on
# what loaded, once and again after loading the same file a second time.
ni_fuzz_target(fuzz_report fuzz_report.c)
