#!/bin/bash
# research-lab: carries the notebooks between this server and the bucket.
{{- if .Pushes}}
#   restore  bucket -> Jupyter, once per server; never overwrites a local file
#   push     Jupyter -> bucket after the restore; deletes only in the publish
#            folder (unpublishing; versioning keeps every version)
{{- if .Team}}
# A team: each member's folder travels to and from <prefix>/<member>/, the
# shared one to and from <prefix>/{{.SharedFolder}}/; `restore` is the shared
# folder's, `restore MEMBER` a member's (the members' sync runs it). Run as
# root, which only hands over: a member's folder is read and written by the
# member alone, through a copy in a staging folder of the sync's, and only the
# sync (of the shared folder's group, of no member's) talks to the bucket.
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
# The sync's own folder (its units' StateDirectory=): its lock, and what it restored.
state="${STATE_DIRECTORY:-/var/lib/research-lab{{if not .Pushes}}-sync{{end}}}"
{{- if .Pushes}}
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
umask 0007

# as NAME CMD...: runs CMD as the user NAME with their own groups; as_sync
# as the sync's user.
as() {
	local name=$1
	shift
	setpriv --reuid="$name" --regid="$name" --init-groups env HOME="$(getent passwd "$name" | cut -d: -f6)" "$@"
}
as_sync() { as "$SYNC_USER" "$@"; }
aws() { as_sync aws "$@"; } # the binary: setpriv runs no shell function

# copy_tree FROM SRC TO DEST [TAR OPTION...]: SRC, read as the user FROM, into
# DEST, written as the user TO, through a pipe: neither reads or writes the
# other's files. GNU tar opens every name without following a link
# (O_NOFOLLOW), so swapping a file for a link while it reads reads nothing
# more. Its exit 1 is a file that changed while it was read.
copy_tree() {
	local from=$1 src=$2 to=$3 dest=$4 status
	shift 4
	set +e
	as "$from" tar -C "$src" -cf - . | as "$to" tar -C "$dest" -xf - --no-same-owner "$@"
	status=("${PIPESTATUS[@]}")
	set -e
	if [ "${status[0]}" -gt 1 ] || [ "${status[1]}" -ne 0 ]; then
		echo "research-lab: copying $src (tar exits ${status[*]})" >&2
		return 1
	fi
}

# stage: a new staging folder of the sync's, which no one else may open.
stage() { as_sync mktemp -d "$state/stage.XXXXXX"; }

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

# owner FOLDER: who reads and writes a bucket folder's copy on this server.
owner() {
	if [ "$1" = "$SHARED_FOLDER" ]; then
		echo "$SYNC_USER"
	else
		echo "$1"
	fi
}

# push_folder FOLDER: its owner's copy of it, staged, like a single
# researcher's push; links are not copied (a member's to the shared folder
# has a push of its own). A folder that cannot be read whole is not pushed:
# a part of its publish folder would unpublish the rest.
push_folder() {
	local folder=$1 dir staging to="$uri$1/"
	dir=$(local_dir "$folder")
	staging=$(stage)
	copy_tree "$(owner "$folder")" "$dir" "$SYNC_USER" "$staging"
	as_sync find "$staging" -mindepth 1 ! -type f ! -type d -delete
	if [ -z "$published" ]; then
		retry push_sync "$staging/" "$to"
	else
		retry push_sync --exclude "$published*" "$staging/" "$to"
		as_sync mkdir -p "$staging/$published"
		retry push_sync --delete "$staging/$published" "$to$published"
	fi
	as_sync rm -rf "$staging"
}

# restore_folder FOLDER: the bucket's copy, staged, into its folder here as
# its owner, never over a file already here.
restore_folder() {
	local folder=$1 dir staging own=()
	dir=$(local_dir "$folder")
	[ "$folder" = "$SHARED_FOLDER" ] || own=(--exclude "$SHARED_FOLDER/*") # where a member's link to it is
	staging=$(stage)
	retry aws s3 sync --only-show-errors "${skip[@]}" "${own[@]}" "$uri$folder/" "$staging/"
	copy_tree "$SYNC_USER" "$staging" "$(owner "$folder")" "$dir" --skip-old-files
	as_sync rm -rf "$staging"
}

# each FUNCTION FOLDER...: FUNCTION for every folder, each on its own: one
# that fails is named and the others go on (errexit holds in a background
# job, not in a function called from a condition). False if one failed.
each() {
	local fn=$1 folder failed=0
	shift
	for folder; do
		"$fn" "$folder" &
		if ! wait $!; then
			echo "research-lab: $folder: not done, see above; the other folders go on" >&2
			failed=1
		fi
	done
	return "$failed"
}
{{- end}}
{{- end}}

# One transfer at a time: timers, restore and shutdown push may meet. The
# lock is the sync's own file, which no notebook's code may open (and so
# hold), and a transfer waits for it a bounded time.
lock_timeout=${LOCK_TIMEOUT:-600}
(umask 077 && : >>"$state/lock")
exec 9<"$state/lock"
if ! flock -w "$lock_timeout" 9; then
	echo "research-lab: another transfer has held the lock for ${lock_timeout}s; giving up" >&2
	exit 1
fi

case "${1:-}" in
{{- if and .Pushes .Team}}
push)
	# The shared folder, and the folder of everyone now in the team.
	IFS=, read -ra members <<<"$(getent group "$TEAM_GROUP" | cut -d: -f4)"
	as_sync find "$state" -maxdepth 1 -name 'stage.*' -exec rm -rf {} + # a transfer cut short
	folders=()
	for folder in "$SHARED_FOLDER" "${members[@]}"; do
		[[ $folder =~ $folder_re ]] || continue
		if [ ! -e "$state/restored-$folder" ]; then
			# Before the restore a push could unpublish what is not here yet.
			echo "research-lab: $folder is not restored yet; not pushed"
			continue
		fi
		folders+=("$folder")
	done
	each push_folder "${folders[@]}"
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
	restore_folder "$folder"
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
