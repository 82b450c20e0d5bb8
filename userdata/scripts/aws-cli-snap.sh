# The AWS CLI, version 2, that the sync reads SSM with: AWS's aws-cli snap
# (classic confinement) on its v2 track, which snapd refreshes by itself.
# Ubuntu's server images on EC2 ship snapd (their SSM agent is a snap); at
# first boot snapd may still be seeding its snaps. The sync calls the CLI
# as {{.AWSCLI}}: no unit's PATH holds /snap/bin.
if ! snap list aws-cli >/dev/null 2>&1; then
	retry snap wait system seed.loaded
	retry snap install aws-cli --classic --channel=v2/stable
fi
