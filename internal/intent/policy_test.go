package intent

import (
	"strings"
	"testing"
)

func TestPolicyIntent(t *testing.T) {
	ok := Intent{ID: "d:0", Kind: KindPolicy, Repo: "acme/gitops", Source: SourceRef{Issue: 7, SHA: strings.Repeat("a", 40)}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid policy intent refused: %v", err)
	}
	if got, want := ok.Subject(), "promobot.intents.acme%2Fgitops._policy.pr-7"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	if got, want := ok.Target().String(), PolicyKey("acme/gitops", 7); got != want {
		t.Errorf("Target = %q, want %q", got, want)
	}
	for name, mut := range map[string]func(*Intent){
		"no id":            func(in *Intent) { in.ID = "" },
		"bad repo":         func(in *Intent) { in.Repo = "../x" },
		"no PR":            func(in *Intent) { in.Source.Issue = 0 },
		"negative PR":      func(in *Intent) { in.Source.Issue = -3 },
		"huge PR":          func(in *Intent) { in.Source.Issue = 1 << 50 },
		"sha not hex":      func(in *Intent) { in.Source.SHA = strings.Repeat("z", 40) },
		"sha with newline": func(in *Intent) { in.Source.SHA = strings.Repeat("a", 39) + "\n" },
	} {
		in := ok
		mut(&in)
		if err := in.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
