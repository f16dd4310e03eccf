# Layers only point down: no library or engine file includes the tool's
# code or a layer above it, and none prints to the terminal.
ni_script_test(layers tests/layers/layers.sh LABELS unit TIMEOUT 60)
