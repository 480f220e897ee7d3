#!/bin/bash
# Runs probe_s3.py configurations one at a time (one thread each); each line of $1 is one set of flags.
# Logs: experiments/pacgan/logs_s3/<name>.log (the name is the first word of the line).
cd /work/main && source .venv/bin/activate
mkdir -p experiments/pacgan/logs_s3
while read -r name flags; do
  [ -z "$name" ] && continue
  echo "== $name: $flags" > experiments/pacgan/logs_s3/$name.log
  OMP_NUM_THREADS=1 python experiments/pacgan/probe_s3.py --threads 1 $flags >> experiments/pacgan/logs_s3/$name.log 2>&1
done < "$1"
