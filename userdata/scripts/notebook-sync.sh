#!/bin/bash
# research-lab: carries the notebooks between this server and the bucket.
{{- if .Pushes}}
#   restore  bucket -> Jupyter, once per server; never overwrites a local file
#   push     Jupyter -> bucket after the restore; deletes only in the publish
#            folder (unpublishing; versioning keeps every version)
{{- else}}
#   pull     the publish folder -> Voila, deletions included
{{- end}}
set -euo pipefail
# shellcheck source=common.sh
. /usr/local/lib/research-lab/common.sh
# shellcheck source=/dev/null
. /etc/research-lab/notebooks.env
export AWS_DEFAULT_REGION AWS_REGION="$AWS_DEFAULT_REGION"

uri="s3://$BUCKET/$NOTEBOOK_PREFIX/"
published="${PUBLISH_FOLDER:+$PUBLISH_FOLDER/}" # "" publishes everything
skip=(--exclude '*.ipynb_checkpoints/*' --exclude '.*' --exclude '*/.*')
{{- if .Pushes}}
state="${STATE_DIRECTORY:-/var/lib/research-lab}"
marker="$state/notebooks-restored"

# A push follows no symlink (one could name a file only this user may read)
# and passes over files this user may not read (a notebook user's 0600
# file): aws names them and exits 2, which is no reason to retry.
push_sync() {
	aws s3 sync --only-show-errors --no-follow-symlinks "${skip[@]}" "$@" || [ $? -eq 2 ]
}
{{- end}}

# One transfer at a time: timers, restore and shutdown push may meet.
exec 9<"$NOTEBOOK_DIR"
flock 9

case "${1:-}" in
{{- if .Pushes}}
push)
	if [ ! -e "$marker" ]; then
		# Before the restore a push could unpublish what is not here yet.
		echo "research-lab: the notebooks are not restored yet; nothing pushed"
		exit 0
	fi
	if [ -z "$published" ]; then
		retry push_sync "$NOTEBOOK_DIR/" "$uri"
		exit 0
	fi
	retry push_sync --exclude "$published*" "$NOTEBOOK_DIR/" "$uri"
	mkdir -p "$NOTEBOOK_DIR/$published"
	retry push_sync --delete "$NOTEBOOK_DIR/$published" "$uri$published"
	;;
restore)
	if [ -e "$marker" ]; then
		echo "research-lab: notebooks already restored on this server"
		exit 0
	fi
	staging=$(mktemp -d "$state/restore.XXXXXX")
	retry aws s3 sync --only-show-errors "${skip[@]}" "$uri" "$staging/"
	# The folder's group and modes, the bucket's times (so nothing is pushed
	# back); the folder itself is the notebook user's.
	find "$staging" -mindepth 1 -maxdepth 1 -exec cp -R --no-clobber --preserve=timestamps -t "$NOTEBOOK_DIR" {} +
	rm -rf "$staging"
	touch "$marker"
	;;
{{- else}}
pull)
	retry aws s3 sync --only-show-errors --delete "${skip[@]}" "$uri$published" "$NOTEBOOK_DIR/"
	;;
{{- end}}
*)
	echo "usage: $0 {{if .Pushes}}push|restore{{else}}pull{{end}}" >&2
	exit 2
	;;
esac
