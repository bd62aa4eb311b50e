package planner

import (
	"testing"

	"github.com/promobot/promobot/internal/edit"
)

func TestTagPatternGate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		changes []Change
		want    gateWant
	}{
		{name: "nothing changes", want: gateWant{open: true, reason: "every tag matches"}},
		{name: "semantic version", changes: []Change{tagChange("payment-service", "prod", "v1.2.0", "v1.3.0")},
			want: gateWant{open: true, reason: "every tag matches"}},
		{name: "commit tag", changes: []Change{tagChange("payment-service", "staging", "sha-1111111", "sha-2222222")},
			want: gateWant{open: true, reason: "every tag matches"}},
		{name: "digest has no tag to check", changes: []Change{{Service: "payment-service", Env: "prod", New: edit.Ref{Digest: "sha256:" + sha256Hex}}},
			want: gateWant{open: true, reason: "every tag matches"}},
		{name: "latest is refused", changes: []Change{tagChange("payment-service", "prod", "v1.2.0", "latest")},
			want: gateWant{reason: `tag "latest" of payment-service does not match the tag pattern`}},
		{name: "any service of a group", changes: []Change{
			tagChange("payment-service", "prod", "v1.2.0", "v1.3.0"),
			tagChange("web", "prod", "v0.8.0", "main"),
		}, want: gateWant{reason: `tag "main" of web`}},
		{name: "an unknown service is checked with the intent's", changes: []Change{tagChange("ghost", "prod", "", "nightly")},
			want: gateWant{reason: `tag "nightly" of ghost`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := gateInput(t, testRules, "payment-service", "prod")
			in.Changes = tc.changes
			checkGate(t, tagPatternGate{}, in, tc.want)
		})
	}
}

const sha256Hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
