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
		"sweep bad env":    func(in *Intent) { in.Source.Issue, in.From = 0, "../prod" },
		"sweep hostile":    func(in *Intent) { in.Source.Issue, in.From = 0, "a.b>c" },
		"sweep bad sha":    func(in *Intent) { in.Source.Issue, in.From, in.Source.SHA = 0, "staging", "HEAD" },
	} {
		in := ok
		mut(&in)
		if err := in.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestPolicySweepIntent: a sweep names the environment whose health
// changed instead of a pull request.
func TestPolicySweepIntent(t *testing.T) {
	in := Intent{ID: "d:1", Kind: KindPolicy, Repo: "acme/gitops", From: "staging", Source: SourceRef{SHA: strings.Repeat("b", 40)}}
	if err := in.Validate(); err != nil || !in.Sweep() {
		t.Fatalf("sweep refused: %v (sweep %v)", err, in.Sweep())
	}
	if got, want := in.Subject(), "promobot.intents.acme%2Fgitops._policy.from-staging"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	if (Intent{Kind: KindPolicy, Source: SourceRef{Issue: 3}, From: "staging"}).Sweep() {
		t.Error("a PR's policy intent is a sweep")
	}
}
