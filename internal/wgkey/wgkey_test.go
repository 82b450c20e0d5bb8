package wgkey

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPrivateKeysLookPrivate: every private key has the clamped pattern, and
// public keys have it about once in 16, which is why a match only warns.
func TestPrivateKeysLookPrivate(t *testing.T) {
	looking := 0
	for seed := range 256 {
		private, public, err := FromBytes(bytes.Repeat([]byte{byte(seed)}, Len))
		require.NoError(t, err)
		assert.True(t, LooksPrivate(private), "the private key of seed %d does not look private", seed)
		if LooksPrivate(public) {
			looking++
		}
	}
	assert.InDelta(t, 256/16, looking, 10, "public keys look private about once in 16")
	assert.False(t, LooksPrivate("not a key"))
}

// TestParseIsAsStrictAsWg: wg refuses what is not exactly 32 bytes in
// canonical, padded base64.
func TestParseIsAsStrictAsWg(t *testing.T) {
	private, _, err := New()
	require.NoError(t, err)
	_, err = Parse(private)
	require.NoError(t, err)
	for _, bad := range []string{private[:43], private[:42] + "B=", private + "=", "AAAA"} {
		_, err := Parse(bad)
		assert.Error(t, err, "%q is no key wg accepts", bad)
	}
}
