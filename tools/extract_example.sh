#!/bin/sh
# Extract the worked example of a public header (the lines between EXAMPLE_BEGIN and
# EXAMPLE_END in its opening comment) into a C file whose main() runs it (the lines between
# EXAMPLE_INCLUDES and EXAMPLE_BEGIN go before main), so that the
# example in the manual is compiled and run as a test and cannot drift from the code.
# usage: extract_example.sh HEADER OUT.c
set -e
hdr="$1"; out="$2"
mkdir -p "$(dirname "$out")"
{
  echo "/* generated from $(basename "$hdr") by tools/extract_example.sh: do not edit */"
  echo "#include <stdio.h>"
  echo "#include <stdlib.h>"
  echo "#include <string.h>"
  echo "#include <math.h>"
  echo "#include \"atelier/$(basename "$hdr")\""
  # the lines between EXAMPLE_INCLUDES and EXAMPLE_BEGIN (includes, and helper functions)
  # go before main()
  sed -n '/EXAMPLE_INCLUDES/,/EXAMPLE_BEGIN/p' "$hdr" | sed '1d;$d' | sed 's/^ *\* \{0,1\}//' || true
  echo "int main(void) {"
  sed -n '/EXAMPLE_BEGIN/,/EXAMPLE_END/p' "$hdr" | sed '1d;$d' | sed 's/^ *\* \{0,1\}//'
  echo "    return 0;"
  echo "}"
} > "$out.tmp"
mv "$out.tmp" "$out"
