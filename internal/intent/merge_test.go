package intent

import (
	"strings"
	"testing"
)

func TestValidateMerge(t *testing.T) {
	ok := Intent{ID: "d:0", Kind: KindMerge, Repo: "acme/gitops", Source: SourceRef{Issue: 3}}
	tests := []struct {
		name string
		edit func(*Intent)
		want string // "" valid
	}{
		{"a PR", func(*Intent) {}, ""},
		{"a branch", func(in *Intent) { in.Source = SourceRef{Ref: "promobot/staging/web"} }, ""},
		{"a failed check with its link", func(in *Intent) {
			in.Check = &Check{Name: "ci/test", State: "failure", URL: "https://ci.example.com/1"}
		}, ""},
		{"neither PR nor branch", func(in *Intent) { in.Source = SourceRef{} }, "names a pull request or a branch"},
		{"branch with a newline", func(in *Intent) { in.Source.Ref = "a\nb" }, "invalid branch"},
		{"oversized branch", func(in *Intent) { in.Source.Ref = strings.Repeat("b", 256) }, "invalid branch"},
		{"names a service", func(in *Intent) { in.Services = []string{"web"} }, "no service"},
		{"check without a name", func(in *Intent) { in.Check = &Check{State: "failure"} }, "invalid check name"},
		{"check with an unknown state", func(in *Intent) { in.Check = &Check{Name: "ci", State: "weird"} }, "invalid check state"},
		{"check link javascript", func(in *Intent) { in.Check = &Check{Name: "ci", State: "failure", URL: "javascript:alert(1)"} }, "invalid check link"},
		{"bad repo", func(in *Intent) { in.Repo = "../x" }, "invalid repo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ok
			tt.edit(&in)
			b, err := in.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			_, err = Unmarshal(b)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("err = %v, want valid", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
