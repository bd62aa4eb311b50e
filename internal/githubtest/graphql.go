package githubtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/google/go-github/v60/github"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator"
)

// graphqlSchema is the part of GitHub's public GraphQL schema the server
// answers, with GitHub's type, field and argument names; queries are parsed
// and validated against it before they run.
const graphqlSchema = `
scalar DateTime
scalar URI
scalar GitObjectID
interface Node { id: ID! }
interface Actor { login: String! }
enum PullRequestMergeMethod { MERGE SQUASH REBASE }
enum MergeStateStatus { BEHIND BLOCKED CLEAN DIRTY DRAFT HAS_HOOKS UNKNOWN UNSTABLE }
enum MergeableState { CONFLICTING MERGEABLE UNKNOWN }
enum PullRequestState { OPEN CLOSED MERGED }
type User implements Node & Actor { id: ID! login: String! }
type Bot implements Node & Actor { id: ID! login: String! }
type AutoMergeRequest {
  mergeMethod: PullRequestMergeMethod!
  enabledAt: DateTime
  enabledBy: Actor
  commitHeadline: String
  commitBody: String
}
type PullRequest implements Node {
  id: ID!
  number: Int!
  title: String!
  state: PullRequestState!
  url: URI!
  merged: Boolean!
  mergeable: MergeableState!
  mergeStateStatus: MergeStateStatus!
  headRefName: String!
  headRefOid: GitObjectID!
  baseRefName: String!
  autoMergeRequest: AutoMergeRequest
  viewerCanEnableAutoMerge: Boolean!
}
type Repository implements Node {
  id: ID!
  name: String!
  nameWithOwner: String!
  autoMergeAllowed: Boolean!
  pullRequest(number: Int!): PullRequest
}
type Query {
  repository(owner: String!, name: String!, followRenames: Boolean = true): Repository
  node(id: ID!): Node
}
input EnablePullRequestAutoMergeInput {
  pullRequestId: ID!
  mergeMethod: PullRequestMergeMethod = MERGE
  commitHeadline: String
  commitBody: String
  authorEmail: String
  expectedHeadOid: GitObjectID
  clientMutationId: String
}
type EnablePullRequestAutoMergePayload { actor: Actor clientMutationId: String pullRequest: PullRequest }
input DisablePullRequestAutoMergeInput { pullRequestId: ID! clientMutationId: String }
type DisablePullRequestAutoMergePayload { actor: Actor clientMutationId: String pullRequest: PullRequest }
type Mutation {
  enablePullRequestAutoMerge(input: EnablePullRequestAutoMergeInput!): EnablePullRequestAutoMergePayload
  disablePullRequestAutoMerge(input: DisablePullRequestAutoMergeInput!): DisablePullRequestAutoMergePayload
}
`

var loadGraphQLSchema = sync.OnceValues(func() (*ast.Schema, error) {
	return gqlparser.LoadSchema(&ast.Source{Name: "github.graphql", Input: graphqlSchema})
})

// maxGraphQLQuery bounds a query's size; GitHub refuses far larger
// documents only by their node count, which this subset never reaches.
const maxGraphQLQuery = 64 << 10

// gqlError is one entry of a GraphQL answer's "errors", as GitHub words it.
type gqlError struct {
	Type      string              `json:"type,omitempty"`
	Path      []any               `json:"path,omitempty"`
	Locations []gqlerror.Location `json:"locations,omitempty"`
	Message   string              `json:"message"`
}

type gqlRequest struct {
	Query         *string        `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
}

// registerGraphQL serves POST /graphql (github.com) and /api/graphql (GHES)
// through the same recording, fault and auth path as REST.
func (s *Server) registerGraphQL() {
	rt := &route{method: "POST", path: "/graphql", pattern: "/graphql", auth: modeToken, h: s.handleGraphQL}
	for _, p := range []string{"POST /graphql", "POST /api/graphql"} {
		s.mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) { s.serveAPI(w, r, rt) })
	}
}

// parseGraphQL parses and validates a request body against the schema.
func parseGraphQL(body []byte) (*ast.QueryDocument, *ast.OperationDefinition, map[string]any, []gqlError, error) {
	schema, err := loadGraphQLSchema()
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("load schema: %w", err)
	}
	var req gqlRequest
	if err := json.Unmarshal(bytes.TrimSpace(body), &req); err != nil {
		return nil, nil, nil, nil, errProblemsParsing
	}
	if req.Query == nil || strings.TrimSpace(*req.Query) == "" {
		return nil, nil, nil, []gqlError{{Message: "A query attribute must be specified and must be a string."}}, nil
	}
	if len(*req.Query) > maxGraphQLQuery {
		return nil, nil, nil, []gqlError{{Message: "Query is too large"}}, nil
	}
	doc, errs := gqlparser.LoadQuery(schema, *req.Query)
	if len(errs) > 0 {
		return nil, nil, nil, fromGQLErrors(errs), nil
	}
	op := doc.Operations.ForName(req.OperationName)
	if op == nil {
		if req.OperationName == "" {
			return nil, nil, nil, []gqlError{{Message: "An operation name is required"}}, nil
		}
		return nil, nil, nil, []gqlError{{Message: fmt.Sprintf("No operation named %q", req.OperationName)}}, nil
	}
	vars, err := validator.VariableValues(schema, op, req.Variables)
	if err != nil {
		return nil, nil, nil, []gqlError{{Message: err.Error()}}, nil
	}
	return doc, op, vars, nil, nil
}

var errProblemsParsing = fmt.Errorf("problems parsing json")

func fromGQLErrors(errs gqlerror.List) []gqlError {
	out := make([]gqlError, 0, len(errs))
	for _, e := range errs {
		ge := gqlError{Message: e.Message, Locations: e.Locations}
		for _, p := range e.Path {
			ge.Path = append(ge.Path, p)
		}
		out = append(out, ge)
	}
	return out
}

// CheckGraphQL reports whether body is a GraphQL request that GitHub's
// schema (the subset this server answers) accepts.
func CheckGraphQL(body []byte) error {
	_, _, _, errs, err := parseGraphQL(body)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return fmt.Errorf("graphql: %s", errs[0].Message)
	}
	return nil
}

func (s *Server) handleGraphQL(c *reqCtx) {
	doc, op, vars, errs, err := parseGraphQL(c.body)
	switch {
	case err == errProblemsParsing:
		c.error(http.StatusBadRequest, "Problems parsing JSON")
		return
	case err != nil:
		c.error(http.StatusInternalServerError, err.Error())
		return
	case len(errs) > 0:
		c.json(http.StatusOK, map[string]any{"errors": errs})
		return
	}
	ex := &gqlExec{s: s, c: c, doc: doc, vars: vars}
	root := gqlObject(gqlQuery{})
	if op.Operation == ast.Mutation {
		root = gqlMutation{}
	}
	data := ex.selectOn(root, op.SelectionSet, nil)
	out := map[string]any{"data": data}
	if len(ex.errs) > 0 {
		out["errors"] = ex.errs
	}
	c.json(http.StatusOK, out)
}

// gqlObject is a value of a GraphQL object type.
type gqlObject interface {
	typeName() string
	// field resolves one field; a gqlError fails it (it answers null).
	field(ex *gqlExec, name string, args map[string]any) (any, *gqlError)
}

type gqlExec struct {
	s    *Server
	c    *reqCtx
	doc  *ast.QueryDocument
	vars map[string]any
	errs []gqlError
}

var gqlInterfaces = map[string][]string{"Node": {"User", "Bot", "PullRequest", "Repository"}, "Actor": {"User", "Bot"}}

func typeMatches(cond, typ string) bool {
	if cond == "" || cond == typ {
		return true
	}
	for _, t := range gqlInterfaces[cond] {
		if t == typ {
			return true
		}
	}
	return false
}

func (ex *gqlExec) selectOn(obj gqlObject, set ast.SelectionSet, path []any) map[string]any {
	out := map[string]any{}
	ex.collect(obj, set, path, out)
	return out
}

func (ex *gqlExec) collect(obj gqlObject, set ast.SelectionSet, path []any, out map[string]any) {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			key := sel.Alias
			if key == "" {
				key = sel.Name
			}
			if sel.Name == "__typename" {
				out[key] = obj.typeName()
				continue
			}
			fp := append(append([]any{}, path...), key)
			v, gerr := obj.field(ex, sel.Name, sel.ArgumentMap(ex.vars))
			if gerr != nil {
				gerr.Path = fp
				gerr.Locations = []gqlerror.Location{{Line: sel.Position.Line, Column: sel.Position.Column}}
				ex.errs = append(ex.errs, *gerr)
				out[key] = nil
				continue
			}
			if o, ok := v.(gqlObject); ok {
				if isNilObject(o) {
					out[key] = nil
					continue
				}
				out[key] = ex.selectOn(o, sel.SelectionSet, fp)
				continue
			}
			out[key] = v
		case *ast.InlineFragment:
			if typeMatches(sel.TypeCondition, obj.typeName()) {
				ex.collect(obj, sel.SelectionSet, path, out)
			}
		case *ast.FragmentSpread:
			if def := ex.doc.Fragments.ForName(sel.Name); def != nil && typeMatches(def.TypeCondition, obj.typeName()) {
				ex.collect(obj, def.SelectionSet, path, out)
			}
		}
	}
}

func isNilObject(o gqlObject) bool {
	switch v := o.(type) {
	case *gqlPull:
		return v == nil
	case *gqlRepo:
		return v == nil
	case *gqlAutoMerge:
		return v == nil
	}
	return false
}

type gqlQuery struct{}

func (gqlQuery) typeName() string { return "Query" }

func (gqlQuery) field(ex *gqlExec, name string, args map[string]any) (any, *gqlError) {
	switch name {
	case "repository":
		owner, _ := args["owner"].(string)
		repoName, _ := args["name"].(string)
		r := ex.s.repos[owner+"/"+repoName]
		if r == nil || !ex.c.p.canAccess(r) {
			return (*gqlRepo)(nil), &gqlError{Type: "NOT_FOUND", Message: fmt.Sprintf("Could not resolve to a Repository with the name '%s/%s'.", owner, repoName)}
		}
		return &gqlRepo{r: r}, nil
	case "node":
		id, _ := args["id"].(string)
		if pr := ex.pullByNodeID(id); pr != nil {
			return pr, nil
		}
		return (*gqlPull)(nil), &gqlError{Type: "NOT_FOUND", Message: fmt.Sprintf("Could not resolve to a node with the global id of '%s'", id)}
	}
	return nil, nil
}

// pullByNodeID finds the pull request whose REST node_id is id, in a
// repository the caller can see.
func (ex *gqlExec) pullByNodeID(id string) *gqlPull {
	n, err := strconv.ParseInt(strings.TrimPrefix(id, "PR_"), 10, 64)
	if err != nil || !strings.HasPrefix(id, "PR_") {
		return nil
	}
	for _, r := range ex.s.repos {
		if !ex.c.p.canAccess(r) {
			continue
		}
		for _, is := range r.issues {
			if is.pr != nil && is.id == n {
				return &gqlPull{r: r, is: is}
			}
		}
	}
	return nil
}

type gqlMutation struct{}

func (gqlMutation) typeName() string { return "Mutation" }

func (gqlMutation) field(ex *gqlExec, name string, args map[string]any) (any, *gqlError) {
	in, _ := args["input"].(map[string]any)
	id, _ := in["pullRequestId"].(string)
	cmid := in["clientMutationId"]
	pr := ex.pullByNodeID(id)
	if pr == nil {
		return nil, &gqlError{Type: "NOT_FOUND", Message: fmt.Sprintf("Could not resolve to a node with the global id of '%s'", id)}
	}
	actor := ex.c.p.asUser(ex.s)
	switch name {
	case "enablePullRequestAutoMerge":
		method, _ := in["mergeMethod"].(string)
		str := func(k string) *string {
			if v, ok := in[k].(string); ok {
				return &v
			}
			return nil
		}
		if oid := str("expectedHeadOid"); oid != nil && *oid != pr.is.pr.headSHA {
			return nil, &gqlError{Type: "UNPROCESSABLE", Message: "Head ref has been modified since the expected head oid."}
		}
		if msg := ex.s.enableAutoMerge(pr.r, pr.is, method, actor, str("commitHeadline"), str("commitBody")); msg != "" {
			return nil, &gqlError{Type: "UNPROCESSABLE", Message: msg}
		}
	case "disablePullRequestAutoMerge":
		delete(pr.r.ci().autoMerge, pr.is.number)
	}
	return &gqlPayload{actor: actor, cmid: cmid, pr: pr}, nil
}

type gqlPayload struct {
	actor *github.User
	cmid  any
	pr    *gqlPull
}

func (p *gqlPayload) typeName() string { return "EnablePullRequestAutoMergePayload" }

func (p *gqlPayload) field(ex *gqlExec, name string, _ map[string]any) (any, *gqlError) {
	switch name {
	case "actor":
		return gqlUser{p.actor}, nil
	case "clientMutationId":
		return p.cmid, nil
	case "pullRequest":
		return p.pr, nil
	}
	return nil, nil
}

type gqlUser struct{ u *github.User }

func (u gqlUser) typeName() string {
	if u.u.GetType() == "Bot" {
		return "Bot"
	}
	return "User"
}

func (u gqlUser) field(_ *gqlExec, name string, _ map[string]any) (any, *gqlError) {
	switch name {
	case "id":
		return u.u.GetNodeID(), nil
	case "login":
		return u.u.GetLogin(), nil
	}
	return nil, nil
}

type gqlRepo struct{ r *repo }

func (*gqlRepo) typeName() string { return "Repository" }

func (g *gqlRepo) field(_ *gqlExec, name string, args map[string]any) (any, *gqlError) {
	switch name {
	case "id":
		return fmt.Sprintf("R_%d", g.r.id), nil
	case "name":
		return g.r.name, nil
	case "nameWithOwner":
		return g.r.fullName(), nil
	case "autoMergeAllowed":
		return g.r.ci().settings.AllowAutoMerge, nil
	case "pullRequest":
		n := toInt(args["number"])
		if is := g.r.issues[int(n)]; is != nil && is.pr != nil {
			return &gqlPull{r: g.r, is: is}, nil
		}
		return (*gqlPull)(nil), &gqlError{Type: "NOT_FOUND", Message: fmt.Sprintf("Could not resolve to a PullRequest with the number of %d.", n)}
	}
	return nil, nil
}

type gqlPull struct {
	r  *repo
	is *issue
}

func (*gqlPull) typeName() string { return "PullRequest" }

func (p *gqlPull) field(ex *gqlExec, name string, _ map[string]any) (any, *gqlError) {
	is, pr := p.is, p.is.pr
	switch name {
	case "id":
		return fmt.Sprintf("PR_%d", is.id), nil
	case "number":
		return is.number, nil
	case "title":
		return is.title, nil
	case "state":
		switch {
		case pr.merged:
			return "MERGED", nil
		case is.state == "closed":
			return "CLOSED", nil
		}
		return "OPEN", nil
	case "url":
		return ex.s.htmlURL(p.r, "pull", strconv.Itoa(is.number)), nil
	case "merged":
		return pr.merged, nil
	case "headRefName":
		return pr.head, nil
	case "headRefOid":
		return pr.headSHA, nil
	case "baseRefName":
		return pr.base, nil
	case "mergeable", "mergeStateStatus":
		if is.state != "open" {
			if name == "mergeable" {
				return "UNKNOWN", nil
			}
			return "UNKNOWN", nil
		}
		m, state := ex.s.computeMergeState(p.r, is, ex.s.baseTip(p.r, is))
		if name == "mergeStateStatus" {
			return strings.ToUpper(state), nil
		}
		switch {
		case m == nil:
			return "UNKNOWN", nil
		case *m:
			return "MERGEABLE", nil
		}
		return "CONFLICTING", nil
	case "autoMergeRequest":
		am := p.r.ci().autoMerge[is.number]
		if am == nil || is.state != "open" {
			return (*gqlAutoMerge)(nil), nil
		}
		return &gqlAutoMerge{am}, nil
	case "viewerCanEnableAutoMerge":
		return p.r.ci().settings.AllowAutoMerge && is.state == "open", nil
	}
	return nil, nil
}

type gqlAutoMerge struct{ am *autoMerge }

func (*gqlAutoMerge) typeName() string { return "AutoMergeRequest" }

func (a *gqlAutoMerge) field(_ *gqlExec, name string, _ map[string]any) (any, *gqlError) {
	switch name {
	case "mergeMethod":
		return strings.ToUpper(a.am.method), nil
	case "enabledAt":
		return ts(a.am.enabledAt), nil
	case "enabledBy":
		return gqlUser{a.am.enabledBy}, nil
	case "commitHeadline":
		return a.am.title, nil
	case "commitBody":
		return a.am.body, nil
	}
	return nil, nil
}

// toInt reads an Int argument, a literal (int64) or a JSON variable (float64).
func toInt(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case float64:
		return int64(n)
	}
	return 0
}
