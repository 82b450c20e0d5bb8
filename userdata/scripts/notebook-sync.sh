#!/bin/bash
# research-lab: carries the notebooks between this server and the bucket.
{{- if .Pushes}}
#   restore  bucket -> Jupyter, once per server; never overwrites a local file
#   push     Jupyter -> bucket after the restore; deletes only in the publish
#            folder (unpublishing; versioning keeps every version)
{{- if .Team}}
# A team: each member's folder travels to and from <prefix>/<member>/, the
# shared one to and from <prefix>/{{.SharedFolder}}/; `restore` is the shared
# folder's, `restore MEMBER` a member's (the members' sync runs it).
{{- end}}
{{- else}}
#   pull     the publish folder -> Voila, deletions included
{{- if .Team}}
# A team: the shared publish folder, <prefix>/{{.SharedFolder}}/<publish folder>/, is the
# site's front page; every member's, <prefix>/<member>/<publish folder>/, a
# folder of the member's name.
{{- end}}
{{- end}}
set -euo pipefail
# shellcheck source=common.sh
. /usr/local/lib/research-lab/common.sh
# shellcheck source=/dev/null
. /etc/research-lab/notebooks.env
export AWS_DEFAULT_REGION AWS_REGION="$AWS_DEFAULT_REGION"

uri="s3://$BUCKET/$NOTEBOOK_PREFIX/"
published="${PUBLISH_FOLDER:+$PUBLISH_FOLDER/}" # "" publishes everything
# Never carried: checkpoints, hidden files, and compiled code (Python's
# bytecode, shared objects), which would run where another member imports.
skip=(--exclude '*.ipynb_checkpoints/*' --exclude '.*' --exclude '*/.*' --exclude '*.py[co]' --exclude '*__pycache__/*' --exclude '*.so')
{{- if .Pushes}}
state="${STATE_DIRECTORY:-/var/lib/research-lab}"
marker="$state/notebooks-restored"

# A push follows no symlink (one could name a file only this user may read)
# and passes over files this user may not read (a notebook user's 0600
# file) or cannot upload (a FIFO): aws warns "Skipping file" for each and
# exits 2. Exit 2 is also a command aws could not parse or run: only the
# skipped files are no reason to fail.
push_sync() {
	local out rc=0
	out=$(aws s3 sync --only-show-errors --no-follow-symlinks "${skip[@]}" "$@" 2>&1) || rc=$?
	[ -z "$out" ] || printf '%s\n' "$out" >&2
	[ "$rc" -eq 0 ] || { [ "$rc" -eq 2 ] && ! grep -qv '^warning: Skipping file ' <<<"$out"; }
}
{{- if .Team}}

# folder_re: a bucket folder of the team, a member's or the shared one.
folder_re='^[a-z][a-z0-9-]{0,31}$'

# local_dir FOLDER: where a bucket folder lives on this server.
local_dir() {
	if [ "$1" = "$SHARED_FOLDER" ]; then
		echo "$SHARED_DIR"
	else
		echo "$MEMBERS_HOME/$1/$MEMBER_NOTEBOOKS"
	fi
}

# push_folder DIR URI: like a single researcher's push; in a member's folder
# the link to the shared folder is passed over (it has a push of its own).
push_folder() {
	local dir=$1 to=$2 own=()
	[ "$dir" = "$SHARED_DIR" ] || own=(--exclude "$SHARED_FOLDER" --exclude "$SHARED_FOLDER/*")
	if [ -z "$published" ]; then
		retry push_sync "${own[@]}" "$dir/" "$to"
		return
	fi
	retry push_sync "${own[@]}" --exclude "$published*" "$dir/" "$to"
	mkdir -p "$dir/$published"
	retry push_sync --delete "$dir/$published" "$to$published"
}
{{- end}}
{{- end}}

# One transfer at a time: timers, restore and shutdown push may meet.
exec 9<"$NOTEBOOK_DIR"
flock 9

case "${1:-}" in
{{- if and .Pushes .Team}}
push)
	# The shared folder, and the folder of everyone now in the team.
	folders=("$SHARED_FOLDER")
	IFS=, read -ra members <<<"$(getent group "$TEAM_GROUP" | cut -d: -f4)"
	folders+=("${members[@]}")
	for folder in "${folders[@]}"; do
		[[ $folder =~ $folder_re ]] || continue
		if [ ! -e "$state/restored-$folder" ]; then
			# Before the restore a push could unpublish what is not here yet.
			echo "research-lab: $folder is not restored yet; not pushed"
			continue
		fi
		push_folder "$(local_dir "$folder")" "$uri$folder/"
	done
	;;
restore)
	folder=${2:-$SHARED_FOLDER}
	if ! [[ $folder =~ $folder_re ]]; then
		echo "research-lab: no folder $folder in the team" >&2
		exit 2
	fi
	marker="$state/restored-$folder"
	if [ -e "$marker" ]; then
		echo "research-lab: $folder already restored on this server"
		exit 0
	fi
	dir=$(local_dir "$folder")
	own=()
	[ "$dir" = "$SHARED_DIR" ] || own=(--exclude "$SHARED_FOLDER/*") # where a member's link to it is
	staging=$(mktemp -d "$state/restore.XXXXXX")
	retry aws s3 sync --only-show-errors "${skip[@]}" "${own[@]}" "$uri$folder/" "$staging/"
	find "$staging" -mindepth 1 -maxdepth 1 -exec cp -R --no-clobber --preserve=timestamps -t "$dir" {} +
	rm -rf "$staging"
	touch "$marker"
	;;
{{- else if .Pushes}}
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
{{- else if .Team}}
pull)
	# Every folder of the prefix: the shared one's publish folder is the
	# site's front page, each member's a folder of the member's name.
	listing=$(retry aws s3api list-objects-v2 --bucket "$BUCKET" --prefix "$NOTEBOOK_PREFIX/" --delimiter / \
		--query 'CommonPrefixes[].Prefix' --output text)
	members=()
	for p in $listing; do
		folder=${p#"$NOTEBOOK_PREFIX/"}
		folder=${folder%/}
		if [[ $folder =~ ^[a-z][a-z0-9-]{0,31}$ ]] && [ "$folder" != "$SHARED_FOLDER" ]; then
			members+=("$folder")
		fi
	done
	# The front page mirrors the shared publish folder, the members' folders
	# apart; a member's folder gone from the bucket goes with the mirror.
	keep=()
	for folder in "${members[@]}"; do
		keep+=(--exclude "$folder/*")
	done
	retry aws s3 sync --only-show-errors --delete "${skip[@]}" "${keep[@]}" "$uri$SHARED_FOLDER/$published" "$NOTEBOOK_DIR/"
	for folder in "${members[@]}"; do
		retry aws s3 sync --only-show-errors --delete "${skip[@]}" "$uri$folder/$published" "$NOTEBOOK_DIR/$folder/"
	done
	;;
{{- else}}
pull)
	retry aws s3 sync --only-show-errors --delete "${skip[@]}" "$uri$published" "$NOTEBOOK_DIR/"
	;;
{{- end}}
*)
	echo "usage: $0 {{if .Pushes}}push|restore{{if .Team}} [MEMBER]{{end}}{{else}}pull{{end}}" >&2
	exit 2
	;;
esac
