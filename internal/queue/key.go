package queue

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxKeyLen keeps escaped keys well inside NATS's subject length limits.
const maxKeyLen = 200

// EscapeKey turns any string into a valid JetStream KV key: [A-Za-z0-9-]
// stay, every other byte becomes _XX (upper-case hex), and the empty string
// becomes "_". That much is injective. A result longer than 200 bytes is cut
// to its first 135 bytes plus "=" and the SHA-256 of the input ('=' never
// appears otherwise), so long keys stay distinct up to hash collisions.
// Use it for State keys; Lease applies it itself. (intent.EscapeToken's %
// is not allowed in KV keys, and keeping dots would let "a..b" through.)
func EscapeKey(s string) string {
	if s == "" {
		return "_"
	}
	const digits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-':
			b.WriteByte(c)
		default:
			b.WriteByte('_')
			b.WriteByte(digits[c>>4])
			b.WriteByte(digits[c&0x0f])
		}
	}
	k := b.String()
	if len(k) <= maxKeyLen {
		return k
	}
	sum := sha256.Sum256([]byte(s))
	return k[:maxKeyLen-65] + "=" + hex.EncodeToString(sum[:])
}
