#!/bin/bash
# research-lab: carries the notebooks between this server and the bucket.
#   push     Jupyter -> bucket; never deletes in the bucket (versioning keeps history)
#   restore  bucket -> Jupyter, once, on a new server's first boot
#   pull     bucket -> Voila; the bucket is the truth, deletions included
set -euo pipefail
# shellcheck source=common.sh
. /usr/local/lib/research-lab/common.sh
# shellcheck source=/dev/null
. /etc/research-lab/notebooks.env
export AWS_DEFAULT_REGION AWS_REGION="$AWS_DEFAULT_REGION"

uri="s3://$BUCKET/$NOTEBOOK_PREFIX/"
skip=(--exclude '*.ipynb_checkpoints/*' --exclude '.*')
marker="${STATE_DIRECTORY:-/var/lib/research-lab}/notebooks-restored"

# One transfer at a time: the timer and the shutdown push may meet.
exec 9<"$NOTEBOOK_DIR"
flock 9

case "${1:-}" in
push)
	retry aws s3 sync --only-show-errors "${skip[@]}" "$NOTEBOOK_DIR/" "$uri"
	;;
restore)
	if [ -e "$marker" ]; then
		echo "research-lab: notebooks already restored on this server"
		exit 0
	fi
	retry aws s3 sync --only-show-errors "${skip[@]}" "$uri" "$NOTEBOOK_DIR/"
	touch "$marker"
	;;
pull)
	retry aws s3 sync --only-show-errors --delete "${skip[@]}" "$uri" "$NOTEBOOK_DIR/"
	;;
*)
	echo "usage: $0 push|restore|pull" >&2
	exit 2
	;;
esac
