# Label "install": not part of the sanitizer run, whose objects need the ASan runtime.
ni_script_test(install tests/install/install.sh LABELS install TIMEOUT 120)
