package rules

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// LagDuration is a duration that may also count days, written as "7d",
// "1d12h" or "36h": the lagWarning of an environment.
type LagDuration struct{ time.Duration }

// maxLag bounds a lagWarning: ten years.
const maxLag = 10 * 365 * 24 * time.Hour

var daysRe = regexp.MustCompile(`^([0-9]{1,5})d(.*)$`)

// ParseLagDuration reads "7d", "1d12h" or any Go duration ("36h").
func ParseLagDuration(s string) (time.Duration, error) {
	var d time.Duration
	rest := s
	if m := daysRe.FindStringSubmatch(s); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		d, rest = time.Duration(n)*24*time.Hour, m[2]
	}
	if rest != "" {
		v, err := time.ParseDuration(rest)
		if err != nil || strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, "+") {
			return 0, fmt.Errorf("invalid duration %q (e.g. 7d, 36h)", s)
		}
		d += v
	}
	if s == "" || d < 0 || d > maxLag {
		return 0, fmt.Errorf("duration %q out of range (up to 3650d)", s)
	}
	return d, nil
}

// String writes whole days as "7d", anything else as a Go duration.
func (d LagDuration) String() string {
	if d.Duration > 0 && d.Duration%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d.Duration/(24*time.Hour)), 10) + "d"
	}
	return d.Duration.String()
}

// IsZero reports an unset lagWarning.
func (d LagDuration) IsZero() bool { return d.Duration == 0 }

// MarshalJSON writes the duration as a string such as "7d".
func (d LagDuration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "7d", "1d12h" or "36h".
func (d *LagDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := ParseLagDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalYAML writes the duration as a string.
func (d LagDuration) MarshalYAML() (any, error) { return d.String(), nil }
