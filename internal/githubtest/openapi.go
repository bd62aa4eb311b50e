package githubtest

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
)

// openapi_ops.json.gz is extracted from GitHub's OpenAPI description as
// published in the npm package @octokit/openapi 23.0.2
// (generated/api.github.com.json, MIT, see OPENAPI_LICENSE).
//
//go:generate go run ./internal/specgen -in ../../../shared/github/rest-openapi.json -out openapi_ops.json.gz
//go:embed openapi_ops.json.gz
var openapiOpsGz []byte

// apiOp is one documented REST operation.
type apiOp struct {
	Method       string   `json:"method"`
	Path         string   `json:"path"`
	OperationID  string   `json:"operationId"`
	BodyRequired bool     `json:"bodyRequired"`
	Required     []string `json:"required"`
	segs         []string
}

var loadOps = sync.OnceValues(func() ([]*apiOp, error) {
	zr, err := gzip.NewReader(bytes.NewReader(openapiOpsGz))
	if err != nil {
		return nil, fmt.Errorf("open embedded spec: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("read embedded spec: %w", err)
	}
	var ops []*apiOp
	if err := json.Unmarshal(raw, &ops); err != nil {
		return nil, fmt.Errorf("parse embedded spec: %w", err)
	}
	for _, o := range ops {
		o.segs = strings.Split(strings.Trim(o.Path, "/"), "/")
	}
	return ops, nil
})

// multiSegment names the parameters that may span several path segments
// (a ref like heads/feature/x, a file path, a base...head pair).
var multiSegment = map[string]bool{"{ref}": true, "{path}": true, "{basehead}": true}

// mayBeEmpty names the parameters that may be empty at the end of a path:
// contents/ with no {path} lists the repository's root.
var mayBeEmpty = map[string]bool{"{path}": true}

// matchOp finds the documented operation for method and a concrete path.
// Among matches the one with the most literal segments wins.
func matchOp(ops []*apiOp, method, p string) *apiOp {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	var best *apiOp
	bestLit := -1
	for _, o := range ops {
		if o.Method != method {
			continue
		}
		if lit, ok := matchSegs(o.segs, segs); ok && lit > bestLit {
			best, bestLit = o, lit
		}
	}
	return best
}

// matchSegs matches a template against path segments, returning the number
// of literal segments matched.
func matchSegs(tmpl, segs []string) (int, bool) {
	if len(tmpl) == 0 {
		return 0, len(segs) == 0
	}
	if len(tmpl) == 1 && mayBeEmpty[tmpl[0]] && (len(segs) == 0 || len(segs) == 1 && segs[0] == "") {
		return 0, true
	}
	if len(segs) == 0 || segs[0] == "" {
		return 0, false
	}
	t := tmpl[0]
	if !strings.HasPrefix(t, "{") || !strings.HasSuffix(t, "}") {
		if t != segs[0] {
			return 0, false
		}
		lit, ok := matchSegs(tmpl[1:], segs[1:])
		return lit + 1, ok
	}
	span := 1
	if multiSegment[t] {
		span = len(segs) - len(tmpl) + 1
	}
	for n := 1; n <= span && n <= len(segs); n++ {
		if lit, ok := matchSegs(tmpl[1:], segs[n:]); ok {
			return lit, true
		}
	}
	return 0, false
}

// CheckCalls reports every call that is not a documented GitHub REST
// operation (method and path template, /api/v3 prefix stripped) or whose JSON
// body lacks a field the operation requires.
func CheckCalls(calls []Call) []error {
	ops, err := loadOps()
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, c := range calls {
		if c.Route == "POST /graphql" {
			if err := CheckGraphQL(c.Body); err != nil {
				errs = append(errs, fmt.Errorf("POST %s: %w", c.Path, err))
			}
			continue
		}
		p := strings.TrimPrefix(c.Path, "/api/v3")
		op := matchOp(ops, c.Method, p)
		if op == nil {
			errs = append(errs, fmt.Errorf("%s %s: not a documented GitHub REST operation", c.Method, p))
			continue
		}
		if len(bytes.TrimSpace(c.Body)) == 0 {
			if op.BodyRequired && len(op.Required) > 0 {
				errs = append(errs, fmt.Errorf("%s %s (%s): missing request body with %s", c.Method, p, op.OperationID, strings.Join(op.Required, ", ")))
			}
			continue
		}
		if len(op.Required) == 0 {
			continue
		}
		var body map[string]json.RawMessage
		if err := json.Unmarshal(c.Body, &body); err != nil {
			errs = append(errs, fmt.Errorf("%s %s (%s): body is not a JSON object: %w", c.Method, p, op.OperationID, err))
			continue
		}
		for _, f := range op.Required {
			if _, ok := body[f]; !ok {
				errs = append(errs, fmt.Errorf("%s %s (%s): missing required field %q", c.Method, p, op.OperationID, f))
			}
		}
	}
	return errs
}
