#!/bin/bash
# research-lab: carries the notebooks between this server and the bucket.
#   restore  bucket -> Jupyter, once per server; never overwrites a local file
#   push     Jupyter -> bucket after the restore; deletes only in the publish
#            folder (unpublishing; versioning keeps every version)
#   pull     the publish folder -> Voila, deletions included
set -euo pipefail
# shellcheck source=common.sh
. /usr/local/lib/research-lab/common.sh
# shellcheck source=/dev/null
. /etc/research-lab/notebooks.env
export AWS_DEFAULT_REGION AWS_REGION="$AWS_DEFAULT_REGION"

uri="s3://$BUCKET/$NOTEBOOK_PREFIX/"
published="${PUBLISH_FOLDER:+$PUBLISH_FOLDER/}" # "" publishes everything
skip=(--exclude '*.ipynb_checkpoints/*' --exclude '.*' --exclude '*/.*')
state="${STATE_DIRECTORY:-/var/lib/research-lab}"
marker="$state/notebooks-restored"

# One transfer at a time: the timer, the restore and the shutdown push may meet.
exec 9<"$NOTEBOOK_DIR"
flock 9

case "${1:-}" in
push)
	if [ ! -e "$marker" ]; then
		# Before the restore a push could unpublish what is not here yet.
		echo "research-lab: the notebooks are not restored yet; nothing pushed"
		exit 0
	fi
	if [ -z "$published" ]; then
		retry aws s3 sync --only-show-errors "${skip[@]}" "$NOTEBOOK_DIR/" "$uri"
		exit 0
	fi
	retry aws s3 sync --only-show-errors "${skip[@]}" --exclude "$published*" "$NOTEBOOK_DIR/" "$uri"
	mkdir -p "$NOTEBOOK_DIR/$published"
	retry aws s3 sync --only-show-errors --delete "${skip[@]}" "$NOTEBOOK_DIR/$published" "$uri$published"
	;;
restore)
	if [ -e "$marker" ]; then
		echo "research-lab: notebooks already restored on this server"
		exit 0
	fi
	staging=$(mktemp -d "$state/restore.XXXXXX")
	retry aws s3 sync --only-show-errors "${skip[@]}" "$uri" "$staging/"
	cp -a --no-clobber "$staging/." "$NOTEBOOK_DIR/"
	rm -rf "$staging"
	touch "$marker"
	;;
pull)
	retry aws s3 sync --only-show-errors --delete "${skip[@]}" "$uri$published" "$NOTEBOOK_DIR/"
	;;
*)
	echo "usage: $0 push|restore|pull" >&2
	exit 2
	;;
esac
