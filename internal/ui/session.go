package ui

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// maxCookie is the longest cookie value read; browsers keep 4096 bytes
// per cookie, and anything longer was not made here.
const maxCookie = 4096

// cookieVersion prefixes every sealed value, so a later format can live
// beside this one.
const cookieVersion = "v1"

// sealer signs (HMAC-SHA256) and encrypts (AES-256-GCM) cookie values. The
// first key seals; every key opens, so a secret can be rotated without
// signing everyone out: put the new one first and keep the old one until
// its sessions have expired.
type sealer struct{ keys []sealKey }

type sealKey struct {
	mac  []byte
	aead cipher.AEAD
}

// newSealer derives its keys from secrets (first: the current one).
func newSealer(secrets [][]byte) (*sealer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("no session secret")
	}
	s := &sealer{}
	for _, sec := range secrets {
		if len(sec) < 16 {
			return nil, errors.New("session secret shorter than 16 bytes")
		}
		block, err := aes.NewCipher(derive(sec, "promobot ui cookie encryption"))
		if err != nil {
			return nil, fmt.Errorf("session cipher: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("session cipher: %w", err)
		}
		s.keys = append(s.keys, sealKey{mac: derive(sec, "promobot ui cookie signature"), aead: aead})
	}
	return s, nil
}

func derive(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// seal returns "v1.<ciphertext>.<signature>"; name binds the value to one
// cookie, so a state cookie is never accepted as a session.
func (s *sealer) seal(name string, v any) (string, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encode cookie: %w", err)
	}
	k := s.keys[0]
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("cookie nonce: %w", err)
	}
	body := cookieVersion + "." + base64.RawURLEncoding.EncodeToString(k.aead.Seal(nonce, nonce, plain, []byte(name)))
	return body + "." + base64.RawURLEncoding.EncodeToString(sign(k.mac, name, body)), nil
}

func sign(key []byte, name, body string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(body))
	return m.Sum(nil)
}

// errBadCookie is every reason a cookie is refused; the caller treats the
// visitor as signed out and never says which check failed.
var errBadCookie = errors.New("bad cookie")

// open checks value's signature with each key and decrypts it into v.
func (s *sealer) open(name, value string, v any) error {
	if len(value) > maxCookie {
		return errBadCookie
	}
	ver, rest, ok := strings.Cut(value, ".")
	if !ok || ver != cookieVersion {
		return errBadCookie
	}
	ct64, sig64, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sig64, ".") {
		return errBadCookie
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(sig64)
	if err != nil || len(sig) != sha256.Size {
		return errBadCookie
	}
	ct, err := base64.RawURLEncoding.Strict().DecodeString(ct64)
	if err != nil {
		return errBadCookie
	}
	body := ver + "." + ct64
	for _, k := range s.keys {
		if !hmac.Equal(sig, sign(k.mac, name, body)) {
			continue
		}
		ns := k.aead.NonceSize()
		if len(ct) < ns+k.aead.Overhead() {
			return errBadCookie
		}
		plain, err := k.aead.Open(nil, ct[:ns], ct[ns:], []byte(name))
		if err != nil {
			return errBadCookie
		}
		if err := json.Unmarshal(plain, v); err != nil {
			return errBadCookie
		}
		return nil
	}
	return errBadCookie
}

// session is what the session cookie carries. The user's token stays
// encrypted in the visitor's own cookie, so any replica can serve them.
type session struct {
	Login   string `json:"l"`
	Token   string `json:"t"`
	Issued  int64  `json:"i"`
	Expires int64  `json:"e"`
}

// valid reports whether s is complete and current at now.
func (s session) valid(now time.Time) bool {
	n := now.Unix()
	return validLogin(s.Login) && s.Token != "" && s.Issued <= n+60 && n < s.Expires
}

// oauthState is what the state cookie carries during a sign-in.
type oauthState struct {
	State   string `json:"s"`
	Next    string `json:"n"`
	Expires int64  `json:"e"`
}

// validLogin accepts GitHub login syntax: letters, digits and single
// hyphens, up to 39 characters ("[bot]" for Apps is not a person who signs in).
func validLogin(l string) bool {
	if l == "" || len(l) > 39 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// parseSession opens a session cookie value; ok is false for anything
// forged, tampered, oversized, malformed or expired.
func (s *sealer) parseSession(value string, now time.Time) (session, bool) {
	var ss session
	if err := s.open(sessionPurpose, value, &ss); err != nil || !ss.valid(now) {
		return session{}, false
	}
	return ss, true
}

const (
	sessionPurpose = "session"
	statePurpose   = "oauth-state"
)
