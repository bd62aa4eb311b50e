package intent

import (
	"strings"
	"testing"
)

func TestValidTag(t *testing.T) {
	for _, tc := range []struct {
		tag  string
		want bool
	}{
		{"v1.2.3", true},
		{"sha-1a2b3c4", true},
		{"_x", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{".hidden", false},
		{"-dash", false},
		{"v1\n", false},
		{"a b", false},
		{"a:b", false},
		{"a/b", false},
		{"v1.2.3\r\nkey: x", false},
	} {
		if got := ValidTag(tc.tag); got != tc.want {
			t.Errorf("ValidTag(%q) = %v, want %v", tc.tag, got, tc.want)
		}
	}
}

func TestValidRepo(t *testing.T) {
	for _, tc := range []struct {
		repo string
		want bool
	}{
		{"acme/gitops", true},
		{"acme/git.ops_1", true},
		{"acme/..", false},
		{"acme/.", false},
		{"acme/a/b", false},
		{"../x", false},
		{"/x", false},
		{"acme", false},
		{"acme/x y", false},
	} {
		if got := ValidRepo(tc.repo); got != tc.want {
			t.Errorf("ValidRepo(%q) = %v, want %v", tc.repo, got, tc.want)
		}
	}
}

func TestEscapeTokenIsInjectiveAndSubjectSafe(t *testing.T) {
	inputs := []string{"acme/gitops", "acme.gitops", "acme%2Fgitops", "a*b", "a>b", "a b", "", "payment-service"}
	seen := map[string]string{}
	for _, in := range inputs {
		got := EscapeToken(in)
		if strings.ContainsAny(got, ".*> \t\r\n") || got == "" {
			t.Errorf("EscapeToken(%q) = %q: not a single subject token", in, got)
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("EscapeToken(%q) and EscapeToken(%q) collide: %q", in, prev, got)
		}
		seen[got] = in
	}
}

func TestSubjectAndRoundTrip(t *testing.T) {
	in := Intent{ID: MsgID("d-1", 0), Kind: KindPromote, DeliveryID: "d-1", Repo: "acme/gitops",
		Services: []string{"payment-service"}, From: "staging", To: "prod", Tag: "v1.2.3"}
	if got, want := in.Subject(), "promobot.intents.acme%2Fgitops.payment-service.prod"; got != want {
		t.Errorf("Subject() = %q, want %q", got, want)
	}
	b, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.ID != in.ID || out.Tag != in.Tag || out.Target() != in.Target() {
		t.Errorf("round trip changed the intent: %+v", out)
	}
}

func TestUnmarshalRejects(t *testing.T) {
	for name, body := range map[string]string{
		"not json":         `{`,
		"no id":            `{"kind":"promote","repo":"a/b","services":["x"],"to":"prod"}`,
		"unknown kind":     `{"id":"1","kind":"explode","repo":"a/b","services":["x"],"to":"prod"}`,
		"bad repo":         `{"id":"1","kind":"promote","repo":"a/../b","services":["x"],"to":"prod"}`,
		"bad tag":          `{"id":"1","kind":"promote","repo":"a/b","services":["x"],"to":"prod","tag":"v1\nx: y"}`,
		"no service":       `{"id":"1","kind":"promote","repo":"a/b","services":[],"to":"prod"}`,
		"bad service":      `{"id":"1","kind":"promote","repo":"a/b","services":["../etc"],"to":"prod"}`,
		"bad env":          `{"id":"1","kind":"promote","repo":"a/b","services":["x"],"to":"Prod Env"}`,
		"rollback, no tag": `{"id":"1","kind":"rollback","repo":"a/b","services":["x"],"to":"prod"}`,
	} {
		if _, err := Unmarshal([]byte(body)); err == nil {
			t.Errorf("%s: Unmarshal accepted %s", name, body)
		}
	}
}

// TestSourceInstallationJSON: the source's installation travels with the
// intent, and intents written before the field existed still decode.
func TestSourceInstallationJSON(t *testing.T) {
	in := Intent{ID: "d:0", Kind: KindUpdate, Repo: "acme/gitops", Services: []string{"web"}, To: "dev",
		Source: SourceRef{Repo: "octo-org/web", SHA: strings.Repeat("a", 40), InstallationID: 4242}}
	b, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"installationId":4242`) {
		t.Errorf("source installation not encoded: %s", b)
	}
	got, err := Unmarshal(b)
	if err != nil || got.Source.InstallationID != 4242 || got.InstallationID != 0 {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	// Zero is left out: an intent without a source installation encodes as before.
	in.Source.InstallationID = 0
	b, err = in.Marshal()
	if err != nil || strings.Contains(string(b), "installationId") {
		t.Errorf("zero installations encoded: %s %v", b, err)
	}
	// An intent queued by an older webhook decodes with 0.
	old := `{"id":"d:0","kind":"update","deliveryId":"d","event":"push","installationId":7,"repo":"acme/gitops",` +
		`"services":["web"],"to":"dev","source":{"repo":"acme/web","sha":"` + strings.Repeat("b", 40) + `"},"createdAt":"2024-05-06T07:08:09Z"}`
	got, err = Unmarshal([]byte(old))
	if err != nil || got.InstallationID != 7 || got.Source.InstallationID != 0 {
		t.Fatalf("old intent: %+v %v", got, err)
	}
}
