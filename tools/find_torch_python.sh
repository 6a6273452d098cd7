#!/bin/sh
# Print the path of a python3 that can import torch (Debian's python3-torch is seen only by
# the system's own /usr/bin/python3; another python3 may come first on PATH). Exit 1 if none.
for py in /usr/bin/python3 $(command -v -a python3 2>/dev/null); do
  if [ -x "$py" ] && "$py" -c "import torch" >/dev/null 2>&1; then echo "$py"; exit 0; fi
done
echo "no python3 with torch found: apt-get install --no-install-recommends python3-torch libopenblas0-openmp" >&2
exit 1
