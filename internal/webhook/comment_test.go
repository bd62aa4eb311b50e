package webhook

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

const commentRules = `version: 1
environments: [{name: dev, auto: true}, {name: staging, auto: true}, {name: prod}]
services:
  - {name: route-demo, repo: chhsia0/knative-route-demo, image: r.example.com/route-demo,
     targets: {dev: {kustomize: k/dev}, staging: {kustomize: k/staging}, prod: {kustomize: k/prod}}}
`

// TestClassifyComment drives the ChatOps classifier with a real
// issue_comment delivery (go-playground's capture of a comment on a PR).
func TestClassifyComment(t *testing.T) {
	rs, err := rules.Parse("rules.yaml", []byte(commentRules))
	if err != nil {
		t.Fatal(err)
	}
	base := payload(t, "issue_comment/created-on-pr-slash-build.go-playground.json")
	body := func(s string) []byte { return edit(t, base, `"body": "/build"`, `"body": "`+s+`"`) }
	for _, tc := range []struct {
		name    string
		payload []byte
		kind    intent.Kind // "" = no intent
		to      string
		reply   string // substring of the reply, for KindReply
	}{
		{"promote on a PR", body(`/promote staging`), intent.KindPromote, "staging", ""},
		{"rollback", body(`/rollback prod route-demo --tag v1.2.3`), intent.KindRollback, "prod", ""},
		{"help", body(`/promote help`), intent.KindReply, "", "/rollback"},
		{"misspelt env", body(`/promote prdo`), intent.KindReply, "", "prod"},
		{"quoted command", body(`> /promote prod`), "", "", ""},
		{"command in a code block", body("```\\n/promote prod\\n```"), "", "", ""},
		{"full-width slash", body(`／promote prod`), "", "", ""},
		{"not a command", body(`/build`), "", "", ""},
		{"edited", edit(t, body(`/promote prod`), `"action": "created"`, `"action": "edited"`), "", "", ""},
		{"deleted", edit(t, body(`/promote prod`), `"action": "created"`, `"action": "deleted"`), "", "", ""},
		{"bot type", replaceAfter(body(`/promote prod`), `"comment": {`, `"type": "User"`, `"type": "Bot"`), "", "", ""},
		{"repository without configuration", edit(t, body(`/promote prod`), `"full_name": "chhsia0/knative-route-demo"`, `"full_name": "chhsia0/other"`), intent.KindNoConfig, "", "add `.github/promobot.yaml`"},
		{"no command in a repository without configuration", edit(t, body(`/build`), `"full_name": "chhsia0/knative-route-demo"`, `"full_name": "chhsia0/other"`), "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ins, err := Classify(rs, Delivery{Event: "issue_comment", ID: "c-1", Payload: tc.payload, Received: time.Unix(0, 0)})
			if err != nil {
				t.Fatal(err)
			}
			if tc.kind == "" {
				if len(ins) != 0 {
					t.Fatalf("want no intent, got %+v", ins)
				}
				return
			}
			if len(ins) != 1 || ins[0].Kind != tc.kind {
				t.Fatalf("want one %s intent, got %+v", tc.kind, ins)
			}
			in := ins[0]
			if in.Requester != "chhsia0" || in.Source.Issue == 0 || in.Source.CommentID == 0 || in.Source.PRURL == "" {
				t.Errorf("command source not carried: requester %q source %+v", in.Requester, in.Source)
			}
			if tc.to != "" && in.To != tc.to {
				t.Errorf("to = %q, want %q", in.To, tc.to)
			}
			if tc.reply != "" && !strings.Contains(in.Reply, tc.reply) {
				t.Errorf("reply %q lacks %q", in.Reply, tc.reply)
			}
		})
	}
}

// replaceAfter replaces the first old after anchor.
func replaceAfter(b []byte, anchor, old, new string) []byte {
	i := bytes.Index(b, []byte(anchor))
	j := bytes.Index(b[i:], []byte(old))
	out := append([]byte{}, b[:i+j]...)
	out = append(out, new...)
	return append(out, b[i+j+len(old):]...)
}

// TestCommentNamesGeneratedService: a repository whose services all come
// from a generator still takes commands, and a generated service can be named.
func TestCommentNamesGeneratedService(t *testing.T) {
	rs, err := rules.Parse("rules.yaml", []byte(`version: 1
environments: [{name: dev, auto: true}, {name: staging}]
generators:
  - repo: chhsia0/knative-route-demo
    directories: 'apps/*'
    service:
      name: '{{.Dir}}'
      image: 'r.example.com/{{.Dir}}'
      targets: {dev: {kustomize: '{{.Path}}/dev'}, staging: {kustomize: '{{.Path}}/staging'}}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := edit(t, payload(t, "issue_comment/created-on-pr-slash-build.go-playground.json"), `"body": "/build"`, `"body": "/promote staging web"`)
	ins, err := Classify(rs, Delivery{Event: "issue_comment", ID: "g-1", Payload: p, Received: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 1 || ins[0].Kind != intent.KindPromote || len(ins[0].Services) != 1 || ins[0].Services[0] != "web" {
		t.Fatalf("intents = %+v, want a promote of the generated service web", ins)
	}
}
