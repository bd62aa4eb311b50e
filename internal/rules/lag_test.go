package rules

import (
	"strings"
	"testing"
	"time"
)

func TestLagWarning(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "7d", want: 7 * 24 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "36h", want: 36 * time.Hour},
		{in: "90m", want: 90 * time.Minute},
		{in: "", err: "out of range"},
		{in: "-1d", err: "invalid"},
		{in: "1d-2h", err: "invalid"},
		{in: "7days", err: "invalid"},
		{in: "99999d", err: "out of range"},
		{in: "9999999999999d", err: "invalid"},
		{in: "d", err: "invalid"},
	} {
		got, err := ParseLagDuration(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want error %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %v %v, want %v", tc.in, got, err, tc.want)
		}
	}
	rs, err := Parse("r.yaml", []byte("version: 1\nenvironments:\n  - name: dev\n  - name: prod\n    lagWarning: 7d\nservices: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if rs.Environments[1].LagWarning.Duration != 7*24*time.Hour || rs.Environments[1].LagWarning.String() != "7d" {
		t.Errorf("lagWarning %v", rs.Environments[1].LagWarning)
	}
	if _, err := Parse("r.yaml", []byte("version: 1\nenvironments:\n  - name: prod\n    lagWarning: soon\nservices: []\n")); err == nil ||
		!strings.Contains(err.Error(), "lagWarning") {
		t.Errorf("bad lagWarning: %v", err)
	}
}

func FuzzParseLagDuration(f *testing.F) {
	for _, s := range []string{"7d", "1d12h", "36h", "", "-1d", "99999d", "1d-2h", "1.5h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseLagDuration(s)
		if err == nil && (d < 0 || d > maxLag) {
			t.Fatalf("%q parsed to %v", s, d)
		}
	})
}
