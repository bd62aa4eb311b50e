package queue

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// validKVKey is what nats.go accepts as a KV key, minus the dot rules
// checked separately.
var validKVKey = regexp.MustCompile(`^[-/_=.a-zA-Z0-9]+$`)

func validKey(k string) bool {
	return validKVKey.MatchString(k) && !strings.HasPrefix(k, ".") && !strings.HasSuffix(k, ".") && !strings.Contains(k, "..")
}

// unescapeKey inverts EscapeKey; it exists to prove EscapeKey injective.
func unescapeKey(k string) (string, bool) {
	if k == "_" {
		return "", true
	}
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		if k[i] != '_' {
			b.WriteByte(k[i])
			continue
		}
		if i+2 >= len(k) {
			return "", false
		}
		v, err := strconv.ParseUint(k[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), true
}

func TestEscapeKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "_"},
		{"acme/gitops/payment-service/prod", "acme_2Fgitops_2Fpayment-service_2Fprod"},
		{"a_b", "a_5Fb"},
		{"a..b", "a_2E_2Eb"},
		{".", "_2E"},
		{"*>", "_2A_3E"},
		{"%00", "_2500"},
		{"ä", "_C3_A4"},
		{"\x00\xff", "_00_FF"},
		{"A-z0", "A-z0"},
	}
	for _, tt := range tests {
		got := EscapeKey(tt.in)
		if got != tt.want {
			t.Errorf("EscapeKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if !validKey(got) {
			t.Errorf("EscapeKey(%q) = %q is not a valid KV key", tt.in, got)
		}
	}
	long := strings.Repeat("a/", 100_000)
	got := EscapeKey(long)
	if !validKey(got) || len(got) != maxKeyLen || !strings.Contains(got, "=") {
		t.Errorf("long key: %q valid %v len %d", got, validKey(got), len(got))
	}
	if EscapeKey(long+"x") == got || EscapeKey(long) != got {
		t.Error("long keys must be deterministic and distinct")
	}
	// A cut key never equals the escape of a short one (no '=' there).
	if strings.Contains(EscapeKey(strings.Repeat("=", 66)), "=") {
		t.Error("'=' must be escaped")
	}
}

func FuzzEscapeKey(f *testing.F) {
	for _, s := range []string{"", "a", "acme/gitops/svc/prod", "a_2Fb", "_", "..", "\x00", "ä/ö", "*.>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := EscapeKey(s)
		if !validKey(k) || len(k) > maxKeyLen {
			t.Fatalf("EscapeKey(%q) = %q is not a valid KV key", s, k)
		}
		if strings.Contains(k, "=") {
			return // hashed long key: distinct up to SHA-256 collisions
		}
		back, ok := unescapeKey(k)
		if !ok || back != s {
			t.Fatalf("EscapeKey(%q) = %q does not invert (got %q, %v)", s, k, back, ok)
		}
	})
}

func TestHeaderValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain reason", "plain reason"},
		{"a\r\nb", "a  b"},
		{"tab\there", "tab here"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{strings.Repeat("x", 5000), strings.Repeat("x", maxReason)},
		{strings.Repeat("x", maxReason-1) + "ä", strings.Repeat("x", maxReason-1)},
	}
	for _, tt := range tests {
		if got := headerValue(tt.in); got != tt.want {
			t.Errorf("headerValue(%.40q) = %.40q (len %d), want len %d", tt.in, got, len(got), len(tt.want))
		}
	}
}

func FuzzHeaderValue(f *testing.F) {
	for _, s := range []string{"", "a\r\nb", "\xff", strings.Repeat("ä", 600)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v := headerValue(s)
		if len(v) > maxReason || strings.ContainsAny(v, "\r\n") || !utf8Valid(v) {
			t.Fatalf("headerValue(%q) = %q unsafe", s, v)
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "") == s }
