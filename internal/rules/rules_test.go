package rules

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

const examplePath = "../../config/promotion-rules.yaml"

func loadExample(t *testing.T) *Rules {
	t.Helper()
	r, err := Load(examplePath)
	if err != nil {
		t.Fatalf("example rules: %v", err)
	}
	return r
}

func TestExampleLoads(t *testing.T) {
	r := loadExample(t)
	if got := r.EnvNames(); !reflect.DeepEqual(got, []string{"dev", "staging", "prod"}) {
		t.Errorf("EnvNames = %v", got)
	}
	if r.Version != 1 || len(r.Services) != 2 || len(r.Generators) != 1 {
		t.Errorf("version %d, %d services, %d generators", r.Version, len(r.Services), len(r.Generators))
	}
	if len(r.Digest()) != 64 {
		t.Errorf("Digest = %q", r.Digest())
	}
	ps, ok := r.Service("payment-service")
	if !ok || len(ps.Targets["prod"]) != 2 || ps.Source.Workflow != ".github/workflows/build.yml" {
		t.Fatalf("payment-service = %+v", ps)
	}
	web, _ := r.Service("web")
	if web.Targets["prod"][0].Container != "web" || web.Targets["dev"][0].Field != "image.tag" {
		t.Errorf("web targets = %+v", web.Targets)
	}
}

func TestDefaults(t *testing.T) {
	r := mustParse(t, base)
	d := r.Defaults
	if d.BaseBranch != "main" || !reflect.DeepEqual(d.Labels, []string{"promotion"}) || d.TagPattern != DefaultTagPattern ||
		d.Title != DefaultTitle || d.Branch != DefaultBranch {
		t.Errorf("defaults = %+v", d)
	}
	// an explicit empty list is kept: no labels wanted
	r = mustParse(t, strings.Replace(base, "version: 1", "version: 1\ndefaults: { labels: [] }", 1))
	if len(r.Defaults.Labels) != 0 {
		t.Errorf("labels = %v, want none", r.Defaults.Labels)
	}
}

func mustParse(t *testing.T, text string) *Rules {
	t.Helper()
	r, err := Parse("test.yaml", []byte(text))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return r
}

func TestEnv(t *testing.T) {
	r := loadExample(t)
	tests := []struct {
		svc, env string
		ok       bool
		check    func(EnvSettings) string
	}{
		{"payment-service", "dev", true, func(s EnvSettings) string {
			if !s.Auto || !s.Direct || s.Index != 0 || s.BaseBranch != "main" {
				return "dev flags"
			}
			return ""
		}},
		{"payment-service", "staging", true, func(s EnvSettings) string {
			if !reflect.DeepEqual(s.Labels, []string{"promotion", "preprod", "env:staging"}) {
				return "labels " + strings.Join(s.Labels, ",")
			}
			return ""
		}},
		{"payment-service", "prod", true, func(s EnvSettings) string {
			// service override replaces reviewers and soak, keeps the rest
			if !reflect.DeepEqual(s.Reviewers.Teams, []string{"acme/payments-oncall"}) || len(s.Reviewers.Users) != 0 {
				return "override reviewers"
			}
			if s.Soak != 4*time.Hour || !reflect.DeepEqual(s.Promoters.Teams, []string{"acme/payments-leads"}) || !s.Ticket.Required || len(s.Windows) != 2 {
				return "merged settings"
			}
			return ""
		}},
		{"web", "prod", true, func(s EnvSettings) string {
			if s.Soak != 2*time.Hour || !reflect.DeepEqual(s.Reviewers.Users, []string{"alice"}) || s.Auto {
				return "environment settings"
			}
			if !reflect.DeepEqual(s.Labels, []string{"promotion", "env:prod"}) {
				return "labels"
			}
			return ""
		}},
		{"nope", "prod", false, nil},
		{"web", "qa", false, nil},
	}
	for _, tt := range tests {
		s, ok := r.Env(tt.svc, tt.env)
		if ok != tt.ok {
			t.Errorf("Env(%s,%s) ok = %v", tt.svc, tt.env, ok)
			continue
		}
		if tt.check != nil {
			if msg := tt.check(s); msg != "" {
				t.Errorf("Env(%s,%s): %s: %+v", tt.svc, tt.env, msg, s)
			}
		}
	}
	// returned slices are copies
	s, _ := r.Env("web", "prod")
	s.Labels[0] = "changed"
	if s2, _ := r.Env("web", "prod"); s2.Labels[0] != "promotion" {
		t.Error("Env leaks internal slices")
	}
}

func TestLabelsDeduplicated(t *testing.T) {
	r := mustParse(t, strings.Replace(base, "  - name: dev\n", "  - name: dev\n    labels: [promotion, env:dev, extra]\n", 1))
	s, _ := r.Env("web", "dev")
	if !reflect.DeepEqual(s.Labels, []string{"promotion", "env:dev", "extra"}) {
		t.Errorf("labels = %v", s.Labels)
	}
}

func TestOrder(t *testing.T) {
	text := `version: 1
environments: [{name: dev}, {name: qa}, {name: staging}, {name: prod}]
services:
  - name: a
    repo: acme/gitops
    image: r.io/a
    targets: { dev: {kustomize: a/dev}, staging: {kustomize: a/st}, prod: {kustomize: a/prod} }
  - name: b
    repo: acme/gitops
    image: r.io/b
    targets: { qa: {kustomize: b/qa}, prod: {kustomize: b/prod} }
`
	r := mustParse(t, text)
	a, _ := r.Service("a")
	b, _ := r.Service("b")
	tests := []struct {
		name string
		fn   func() (string, bool)
		want string
		ok   bool
	}{
		{"a next dev skips qa", func() (string, bool) { return r.Next(a, "dev") }, "staging", true},
		{"a next prod", func() (string, bool) { return r.Next(a, "prod") }, "", false},
		{"a prev prod", func() (string, bool) { return r.Prev(a, "prod") }, "staging", true},
		{"a prev dev", func() (string, bool) { return r.Prev(a, "dev") }, "", false},
		{"b next qa skips staging", func() (string, bool) { return r.Next(b, "qa") }, "prod", true},
		{"b prev prod", func() (string, bool) { return r.Prev(b, "prod") }, "qa", true},
		{"unknown env", func() (string, bool) { return r.Next(a, "nope") }, "", false},
		{"a first", func() (string, bool) { return r.First(a), true }, "dev", true},
		{"b first", func() (string, bool) { return r.First(b), true }, "qa", true},
	}
	for _, tt := range tests {
		got, ok := tt.fn()
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s = %q %v, want %q %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func names(ss []*Service) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Name)
	}
	return out
}

func TestServicesInAndMatch(t *testing.T) {
	r := loadExample(t)
	if got := names(r.ServicesIn("ACME/gitops")); !reflect.DeepEqual(got, []string{"payment-service", "web"}) {
		t.Errorf("ServicesIn = %v", got)
	}
	if got := r.ServicesIn("acme/other"); len(got) != 0 {
		t.Errorf("ServicesIn other = %v", names(got))
	}
	tests := []struct {
		repo, wf, branch string
		want             []string
	}{
		{"acme/payment-service", ".github/workflows/build.yml", "main", []string{"payment-service"}},
		{"acme/payment-service", ".github/workflows/build.yml@refs/heads/main", "main", []string{"payment-service"}},
		{"acme/payment-service", ".github/workflows/build.yml", "feature", nil},
		{"acme/payment-service", ".github/workflows/lint.yml", "main", nil},
		{"acme/web", ".github/workflows/build.yml", "main", nil},
	}
	for _, tt := range tests {
		if got := names(r.MatchWorkflow(tt.repo, tt.wf, tt.branch)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("MatchWorkflow(%s,%s,%s) = %v, want %v", tt.repo, tt.wf, tt.branch, got, tt.want)
		}
	}
	tagTests := []struct {
		repo, tag string
		want      []string
	}{
		{"acme/payment-service", "v1.2.3", []string{"payment-service"}},
		{"acme/payment-service", "v1.2", nil},
		{"acme/payment-service", "release-1", nil},
		{"acme/web", "v1.2.3", nil}, // web has no source
	}
	for _, tt := range tagTests {
		if got := names(r.MatchTag(tt.repo, tt.tag)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("MatchTag(%s,%s) = %v, want %v", tt.repo, tt.tag, got, tt.want)
		}
	}
}

func TestTouched(t *testing.T) {
	r := loadExample(t)
	tests := []struct {
		name  string
		paths []string
		want  []string // service/env
	}{
		{"kustomization.yaml in dir", []string{"apps/payment-service/overlays/dev/kustomization.yaml"}, []string{"payment-service/dev"}},
		{"kustomization.yml", []string{"apps/payment-service/overlays/staging/kustomization.yml"}, []string{"payment-service/staging"}},
		{"Kustomization", []string{"apps/payment-service/overlays/prod-us/Kustomization"}, []string{"payment-service/prod"}},
		{"other file in dir", []string{"apps/payment-service/overlays/dev/deployment.yaml"}, nil},
		{"the dir itself", []string{"apps/payment-service/overlays/dev"}, nil},
		{"helm values", []string{"charts/web/values-staging.yaml"}, []string{"web/staging"}},
		{"manifest", []string{"clusters/prod/web/deployment.yaml"}, []string{"web/prod"}},
		{"several, sorted", []string{"clusters/prod/web/deployment.yaml", "charts/web/values-dev.yaml", "apps/payment-service/overlays/prod-eu/kustomization.yaml", "apps/payment-service/overlays/dev/kustomization.yaml"},
			[]string{"payment-service/dev", "payment-service/prod", "web/dev", "web/prod"}},
	}
	for _, tt := range tests {
		var got []string
		for _, se := range r.Touched("acme/gitops", tt.paths) {
			got = append(got, se.Service.Name+"/"+se.Env)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Touched = %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := r.Touched("acme/other", []string{"charts/web/values-dev.yaml"}); len(got) != 0 {
		t.Errorf("other repo touched %v", got)
	}
	// a kustomize target that names its file matches only that file
	r2 := mustParse(t, strings.Replace(base, "apps/web/dev }", "apps/web/dev/kustomization.yml }", 1))
	if got := r2.Touched("acme/gitops", []string{"apps/web/dev/kustomization.yml"}); len(got) != 1 || got[0].Env != "dev" {
		t.Errorf("file target: %v", got)
	}
	if got := r2.Touched("acme/gitops", []string{"apps/web/dev/kustomization.yaml"}); len(got) != 0 {
		t.Errorf("file target matched a sibling: %v", got)
	}
}

func TestTargetFile(t *testing.T) {
	has := func(files ...string) func(string) bool {
		return func(p string) bool {
			for _, f := range files {
				if f == p {
					return true
				}
			}
			return false
		}
	}
	tests := []struct {
		name   string
		t      Target
		exists func(string) bool
		want   string
	}{
		{"dir with yaml", Target{Kustomize: "a/dev"}, has("a/dev/kustomization.yaml", "a/dev/Kustomization"), "a/dev/kustomization.yaml"},
		{"dir with yml", Target{Kustomize: "a/dev"}, has("a/dev/kustomization.yml"), "a/dev/kustomization.yml"},
		{"dir with Kustomization", Target{Kustomize: "a/dev"}, has("a/dev/Kustomization"), "a/dev/Kustomization"},
		{"dir with none", Target{Kustomize: "a/dev"}, has(), ""},
		{"nil exists", Target{Kustomize: "a/dev"}, nil, "a/dev/kustomization.yaml"},
		{"kustomize file", Target{Kustomize: "a/dev/kustomization.yml"}, has(), "a/dev/kustomization.yml"},
		{"helm", Target{Helm: "v.yaml", Field: "image.tag"}, has(), "v.yaml"},
		{"manifest", Target{Manifest: "d.yaml", Container: "web"}, has(), "d.yaml"},
	}
	for _, tt := range tests {
		if got := tt.t.TargetFile(tt.exists); got != tt.want {
			t.Errorf("%s: TargetFile = %q, want %q", tt.name, got, tt.want)
		}
	}
	if (Target{Helm: "v"}).Kind() != "helm" || (Target{Kustomize: "k"}).Kind() != "kustomize" || (Target{Manifest: "m"}).Kind() != "manifest" {
		t.Error("Kind")
	}
}

func TestRenderTag(t *testing.T) {
	r := loadExample(t)
	ps, _ := r.Service("payment-service")
	web, _ := r.Service("web")
	sha := "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
	got, err := r.RenderTag(ps, BuildInfo{SHA: sha})
	if err != nil || got != "sha-0a1b2c3" {
		t.Errorf("RenderTag = %q, %v", got, err)
	}
	if _, err := r.RenderTag(web, BuildInfo{SHA: sha}); err == nil {
		t.Error("RenderTag without source succeeded")
	}
	branchTag := mustParse(t, strings.Replace(base, "    targets:\n", "    source: { repo: acme/web, tag: '{{.HeadBranch}}' }\n    targets:\n", 1))
	w, _ := branchTag.Service("web")
	if got, err := branchTag.RenderTag(w, BuildInfo{HeadBranch: "v1.4.0"}); err != nil || got != "v1.4.0" {
		t.Errorf("HeadBranch tag = %q, %v", got, err)
	}
	// a branch name that is no OCI tag is refused, not written
	if got, err := branchTag.RenderTag(w, BuildInfo{HeadBranch: "feature/x"}); err == nil {
		t.Errorf("invalid rendered tag %q accepted", got)
	}
	if got, err := branchTag.RenderTag(w, BuildInfo{HeadBranch: ""}); err == nil {
		t.Errorf("empty rendered tag %q accepted", got)
	}
}

func TestTagAllowed(t *testing.T) {
	r := loadExample(t)
	ps, _ := r.Service("payment-service")
	custom := mustParse(t, strings.Replace(base, "    targets:\n", "    tagPattern: '^release-\\d+$'\n    targets:\n", 1))
	cs, _ := custom.Service("web")
	tests := []struct {
		r    *Rules
		svc  *Service
		tag  string
		want bool
	}{
		{r, ps, "v2.4.1", true},
		{r, ps, "2.4.1-rc.1", true},
		{r, ps, "sha-0a1b2c3", true},
		{r, ps, "latest", false},
		{r, ps, "sha-0A1B2C3", false},
		{r, ps, "v2.4.1-" + strings.Repeat("a", 130), false}, // matches the pattern, too long for OCI
		{custom, cs, "release-12", true},
		{custom, cs, "v1.2.3", false},
		{r, nil, "v1.2.3", false},
	}
	for _, tt := range tests {
		if got := tt.r.TagAllowed(tt.svc, tt.tag); got != tt.want {
			t.Errorf("TagAllowed(%q) = %v, want %v", tt.tag, got, tt.want)
		}
	}
}

func TestTickets(t *testing.T) {
	r := loadExample(t)
	if got := r.FindTicket("web", "prod", "no key here", "fix: PAY-12 and OPS-3", "ABC-9"); got != "PAY-12" {
		t.Errorf("FindTicket = %q", got)
	}
	if got := r.FindTicket("web", "prod", "nothing"); got != "" {
		t.Errorf("FindTicket = %q", got)
	}
	if got := r.FindTicket("web", "dev", "PAY-12"); got != "" {
		t.Errorf("FindTicket without pattern = %q", got)
	}
	valid := []struct {
		env, key string
		want     bool
	}{
		{"prod", "PAY-12", true},
		{"prod", "xPAY-12", false},
		{"prod", "PAY-12 ", false},
		{"prod", "", false},
		{"dev", "anything", true},
		{"nope", "PAY-1", false},
	}
	for _, tt := range valid {
		if got := r.TicketValid("web", tt.env, tt.key); got != tt.want {
			t.Errorf("TicketValid(%s,%q) = %v", tt.env, tt.key, got)
		}
	}
	u, err := r.TicketURL("web", "prod", "PAY-12")
	if err != nil || u != "https://jira.example.com/browse/PAY-12" {
		t.Errorf("TicketURL = %q, %v", u, err)
	}
	if u, err := r.TicketURL("web", "dev", "PAY-12"); err != nil || u != "" {
		t.Errorf("TicketURL without url = %q, %v", u, err)
	}
	if _, err := r.TicketURL("web", "prod", "PAY-12/../x"); err == nil {
		t.Error("TicketURL accepted an invalid key")
	}
	// required with no pattern gets the default pattern
	rr := mustParse(t, strings.Replace(base, "  - name: prod\n", "  - name: prod\n    ticket: { required: true }\n", 1))
	if !rr.TicketValid("web", "prod", "OPS-1") || rr.TicketValid("web", "prod", "ops") {
		t.Error("default ticket pattern not applied")
	}
}

func TestTitle(t *testing.T) {
	r := loadExample(t)
	tests := []struct {
		d    TitleData
		want string
	}{
		{TitleData{Service: "payment-service", Tag: "v2.4.1", Env: "prod", From: "staging"}, "Promote payment-service v2.4.1 to prod"},
		{TitleData{Services: []string{"web"}, Tag: "v2.4.1", Env: "prod", Ticket: "PAY-1"}, "Promote web v2.4.1 to prod [PAY-1]"},
		{TitleData{Services: []string{"a", "b"}, Tag: "v1", Env: "staging"}, "Promote a, b v1 to staging"},
		{TitleData{Services: []string{"a", "b", "c", "d"}, Env: "staging"}, "Promote 4 services to staging"},
		{TitleData{Service: "web", Tag: "v1.0.0", Env: "prod", Rollback: true, Ticket: "OPS-2"}, "Roll back web in prod to v1.0.0 [OPS-2]"},
	}
	for _, tt := range tests {
		got, err := r.Title(tt.d)
		if err != nil || got != tt.want {
			t.Errorf("Title(%+v) = %q, %v; want %q", tt.d, got, err, tt.want)
		}
	}
	custom := mustParse(t, strings.Replace(base, "version: 1", "version: 1\ndefaults: { title: \"chore(deploy): {{.Service}} → {{.Env}}\\n{{upper .Tag}}\" }", 1))
	if got, err := custom.Title(TitleData{Service: "web", Env: "prod", Tag: "v1"}); err != nil || got != "chore(deploy): web → prod V1" {
		t.Errorf("custom title = %q, %v", got, err)
	}
	long, err := r.Title(TitleData{Service: strings.Repeat("x", 400), Env: "prod"})
	if err != nil || len(long) > 260 {
		t.Errorf("long title: %d bytes, %v", len(long), err)
	}
}

func TestBranch(t *testing.T) {
	r := loadExample(t)
	if got, err := r.Branch("prod", "web"); err != nil || got != "promobot/prod/web" {
		t.Errorf("Branch = %q, %v", got, err)
	}
	for _, bad := range [][2]string{{"prod", "we b"}, {"prod", "x..y"}, {"prod", ".hidden"}, {"prod", "a.lock"}, {"", ""}} {
		if got, err := r.Branch(bad[0], bad[1]); err == nil {
			t.Errorf("Branch(%q,%q) = %q, want error", bad[0], bad[1], got)
		}
	}
}

func TestValidBranch(t *testing.T) {
	good := []string{"main", "promobot/prod/web", "release/v1.2", "a-b_c", "feature@x"}
	bad := []string{"", "-x", "/x", "x/", "x//y", "x..y", "x.", ".x", "a/.b", "x.lock", "a/b.lock/c", "x y", "x~1", "x^", "x:y", "x?", "x*", "x[", `x\y`, "x@{1}", "@", "x\x7f", "x\ny", strings.Repeat("a", 256)}
	for _, s := range good {
		if !ValidBranch(s) {
			t.Errorf("ValidBranch(%q) = false", s)
		}
	}
	for _, s := range bad {
		if ValidBranch(s) {
			t.Errorf("ValidBranch(%q) = true", s)
		}
	}
}

func TestWindows(t *testing.T) {
	r := loadExample(t)
	ws := r.Windows("web", "prod")
	if len(ws) != 2 || !ws[0].Allow || ws[1].Allow {
		t.Fatalf("windows = %+v", ws)
	}
	berlin, _ := time.LoadLocation("Europe/Berlin")
	tests := []struct {
		w    WindowSchedule
		at   time.Time
		want bool
	}{
		{ws[0], time.Date(2025, 3, 4, 9, 0, 0, 0, berlin), true},      // Tuesday 09:00 opens
		{ws[0], time.Date(2025, 3, 4, 16, 59, 0, 0, berlin), true},    // still open
		{ws[0], time.Date(2025, 3, 4, 17, 0, 0, 0, berlin), false},    // closes after 8h
		{ws[0], time.Date(2025, 3, 4, 8, 59, 0, 0, berlin), false},    // not yet
		{ws[0], time.Date(2025, 3, 8, 10, 0, 0, 0, berlin), false},    // Saturday
		{ws[0], time.Date(2025, 3, 4, 8, 30, 0, 0, time.UTC), true},   // 09:30 in Berlin
		{ws[1], time.Date(2025, 12, 26, 23, 0, 0, 0, berlin), true},   // freeze
		{ws[1], time.Date(2025, 12, 27, 0, 0, 0, 0, berlin), false},   // freeze over
		{ws[1], time.Date(2025, 12, 23, 23, 59, 0, 0, berlin), false}, // before freeze
	}
	for i, tt := range tests {
		if got := tt.w.Open(tt.at); got != tt.want {
			t.Errorf("%d: Open(%v) = %v, want %v", i, tt.at, got, tt.want)
		}
	}
	if end := ws[0].End(time.Date(2025, 3, 4, 10, 0, 0, 0, berlin)); !end.Equal(time.Date(2025, 3, 4, 17, 0, 0, 0, berlin)) {
		t.Errorf("End = %v", end)
	}
	if next := ws[0].NextOpen(time.Date(2025, 3, 8, 10, 0, 0, 0, berlin)); !next.Equal(time.Date(2025, 3, 10, 9, 0, 0, 0, berlin)) {
		t.Errorf("NextOpen = %v", next)
	}
}

func TestNotParsedRulesDoNotPanic(t *testing.T) {
	var r Rules
	if _, ok := r.Service("x"); ok {
		t.Error("Service on empty rules")
	}
	if _, err := r.Title(TitleData{}); err == nil {
		t.Error("Title on unparsed rules succeeded")
	}
	if r.TagAllowed(&Service{Name: "x"}, "v1.0.0") {
		t.Error("TagAllowed on unparsed rules")
	}
}

func TestFieldErrorFormat(t *testing.T) {
	e := FieldError{File: "r.yaml", Line: 3, Column: 5, Field: "services[0].name", Msg: "bad"}
	if e.Error() != "r.yaml:3:5: services[0].name: bad" {
		t.Errorf("Error() = %q", e.Error())
	}
	e = FieldError{File: "r.yaml", Msg: "bad"}
	if e.Error() != "r.yaml: bad" {
		t.Errorf("Error() = %q", e.Error())
	}
}
