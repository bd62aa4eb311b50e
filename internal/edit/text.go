package edit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// file is a parsed input: the original bytes, the documents' root nodes (nil
// for an empty document) and a line index that uses the parser's notion of a
// line break, so node Line/Column map to byte offsets exactly.
type file struct {
	src   []byte
	docs  []*yaml.Node
	lines []lineSpan
	eol   string
}

// lineSpan is one line: content src[start:end], next line starts at next.
type lineSpan struct{ start, end, next int }

func parse(data []byte) (*file, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%d bytes: %w", len(data), ErrTooLarge)
	}
	if bytes.HasPrefix(data, []byte{0xFE, 0xFF}) || bytes.HasPrefix(data, []byte{0xFF, 0xFE}) {
		return nil, errors.New("unsupported encoding: only UTF-8 is accepted")
	}
	if !utf8.Valid(data) {
		return nil, errors.New("invalid UTF-8")
	}
	f := &file{src: data, eol: "\n"}
	if i := bytes.IndexByte(data, '\n'); i > 0 && data[i-1] == '\r' {
		f.eol = "\r\n"
	} else if i < 0 && bytes.IndexByte(data, '\r') >= 0 {
		f.eol = "\r" // classic Mac line ends
	}
	f.index()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse yaml: %w", err)
		}
		var root *yaml.Node
		if len(doc.Content) > 0 {
			root = doc.Content[0]
		}
		if err := checkDuplicates(root, 0); err != nil {
			return nil, err
		}
		f.docs = append(f.docs, root)
	}
	return f, nil
}

// maxDepth bounds the recursion of the duplicate check and comparisons; the
// parser itself refuses much deeper nesting.
const maxDepth = 10000

func checkDuplicates(n *yaml.Node, depth int) error {
	if n == nil {
		return nil
	}
	if depth > maxDepth {
		return errors.New("yaml nested too deeply")
	}
	if n.Kind == yaml.MappingNode {
		seen := make(map[string]bool, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Value == "<<" {
				continue
			}
			if seen[k.Value] {
				return fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			seen[k.Value] = true
		}
	}
	for _, c := range n.Content {
		if err := checkDuplicates(c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// index splits src into lines using every break the YAML scanner knows:
// \r\n, \n, \r, NEL, LS and PS. A leading BOM is not part of line 1's columns.
func (f *file) index() {
	src := f.src
	start := 0
	if bytes.HasPrefix(src, []byte("\xEF\xBB\xBF")) {
		start = 3
	}
	for i := start; i < len(src); {
		n := 0
		switch {
		case src[i] == '\n':
			n = 1
		case src[i] == '\r':
			n = 1
			if i+1 < len(src) && src[i+1] == '\n' {
				n = 2
			}
		case src[i] == 0xC2 && i+1 < len(src) && src[i+1] == 0x85:
			n = 2
		case src[i] == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && (src[i+2] == 0xA8 || src[i+2] == 0xA9):
			n = 3
		}
		if n == 0 {
			i++
			continue
		}
		f.lines = append(f.lines, lineSpan{start, i, i + n})
		i += n
		start = i
	}
	f.lines = append(f.lines, lineSpan{start, len(src), len(src)})
}

// offset converts a 1-based line and rune column to a byte offset.
func (f *file) offset(line, col int) (int, error) {
	if line < 1 || line > len(f.lines) || col < 1 {
		return 0, fmt.Errorf("position %d:%d outside the file", line, col)
	}
	l := f.lines[line-1]
	p := l.start
	for i := 1; i < col; i++ {
		if p >= l.end {
			return 0, fmt.Errorf("position %d:%d outside the line", line, col)
		}
		_, size := utf8.DecodeRune(f.src[p:])
		p += size
	}
	return p, nil
}

// scalarSpan returns the byte range of a scalar's text, without its tag or
// anchor. Block scalars and multi-line plain scalars are refused: replacing
// them would change more than one short line.
func (f *file) scalarSpan(n *yaml.Node) (int, int, error) {
	if n.Kind == yaml.AliasNode {
		return 0, 0, fmt.Errorf("line %d: value is an alias (*%s); refusing to edit through it", n.Line, n.Value)
	}
	if n.Kind != yaml.ScalarNode {
		return 0, 0, fmt.Errorf("line %d: expected a scalar", n.Line)
	}
	p, err := f.offset(n.Line, n.Column)
	if err != nil {
		return 0, 0, err
	}
	src := f.src
	// Skip node properties: !tag and &anchor, each followed by whitespace.
	for p < len(src) && (src[p] == '!' || src[p] == '&') {
		for p < len(src) && !isSpace(src[p]) && src[p] != '\n' && src[p] != '\r' {
			p++
		}
		for p < len(src) && (isSpace(src[p]) || src[p] == '\n' || src[p] == '\r') {
			p++
		}
	}
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		if p >= len(src) || src[p] != '"' {
			return 0, 0, fmt.Errorf("line %d: cannot locate quoted scalar", n.Line)
		}
		for q := p + 1; q < len(src); q++ {
			switch src[q] {
			case '\\':
				q++
			case '"':
				return p, q + 1, nil
			}
		}
		return 0, 0, fmt.Errorf("line %d: unterminated quoted scalar", n.Line)
	case n.Style&yaml.SingleQuotedStyle != 0:
		if p >= len(src) || src[p] != '\'' {
			return 0, 0, fmt.Errorf("line %d: cannot locate quoted scalar", n.Line)
		}
		for q := p + 1; q < len(src); q++ {
			if src[q] == '\'' {
				if q+1 < len(src) && src[q+1] == '\'' {
					q++
					continue
				}
				return p, q + 1, nil
			}
		}
		return 0, 0, fmt.Errorf("line %d: unterminated quoted scalar", n.Line)
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return 0, 0, fmt.Errorf("line %d: block scalar (| or >) not supported here", n.Line)
	}
	if n.Value == "" || !bytes.HasPrefix(src[p:], []byte(n.Value)) {
		return 0, 0, fmt.Errorf("line %d: multi-line or empty plain scalar not supported here", n.Line)
	}
	return p, p + len(n.Value), nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// isEmptyNull reports whether n is a value written as nothing at all ("key:").
func isEmptyNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == "" && n.Style == 0
}

// afterColon returns the offset just after the ':' that follows key.
func (f *file) afterColon(key *yaml.Node) (int, error) {
	_, end, err := f.scalarSpan(key)
	if err != nil {
		return 0, err
	}
	for end < len(f.src) && isSpace(f.src[end]) {
		end++
	}
	if end >= len(f.src) || f.src[end] != ':' {
		return 0, fmt.Errorf("line %d: cannot locate ':' after key %q", key.Line, key.Value)
	}
	return end + 1, nil
}

// nodeEnd returns the offset just after a node's text (flow and scalar
// nodes only; block collections use blockEnd).
func (f *file) nodeEnd(n *yaml.Node) (int, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		_, end, err := f.scalarSpan(n)
		return end, err
	case yaml.AliasNode:
		p, err := f.offset(n.Line, n.Column)
		return p + 1 + len(n.Value), err
	case yaml.MappingNode, yaml.SequenceNode:
		if n.Style&yaml.FlowStyle == 0 {
			return 0, fmt.Errorf("line %d: block collection inside a flow collection", n.Line)
		}
		open, err := f.offset(n.Line, n.Column)
		if err != nil {
			return 0, err
		}
		for open < len(f.src) && f.src[open] != '[' && f.src[open] != '{' {
			open++ // skip properties
		}
		return f.flowClose(open)
	}
	return 0, fmt.Errorf("line %d: unexpected node", n.Line)
}

// flowClose returns the offset just after the bracket that closes the flow
// collection opening at src[open], skipping quoted scalars and comments.
func (f *file) flowClose(open int) (int, error) {
	src := f.src
	depth := 0
	prev := byte(' ')
	for p := open; p < len(src); p++ {
		c := src[p]
		switch {
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
			if depth == 0 {
				return p + 1, nil
			}
		case (c == '"' || c == '\'') && strings.IndexByte(" \t\r\n[{,:", prev) >= 0:
			q := p + 1
			for ; q < len(src); q++ {
				if c == '"' && src[q] == '\\' {
					q++
					continue
				}
				if src[q] == c {
					if c == '\'' && q+1 < len(src) && src[q+1] == '\'' {
						q++
						continue
					}
					break
				}
			}
			p = q
		case c == '#' && strings.IndexByte(" \t\r\n", prev) >= 0:
			for p < len(src) && src[p] != '\n' && src[p] != '\r' {
				p++
			}
		}
		if p < len(src) {
			prev = src[p]
		}
	}
	return 0, errors.New("unterminated flow collection")
}

// lineText returns line li's content and its indentation in spaces.
func (f *file) lineText(li int) (string, int) {
	l := f.lines[li]
	s := string(f.src[l.start:l.end])
	return s, len(s) - len(strings.TrimLeft(s, " "))
}

func isDocMarker(s string) bool {
	for _, m := range []string{"---", "..."} {
		if s == m || strings.HasPrefix(s, m+" ") || strings.HasPrefix(s, m+"\t") {
			return true
		}
	}
	return false
}

// blockEnd returns the last line (0-based) holding content of the block
// collection n: a mapping whose keys sit at n's column, or a sequence whose
// dashes do. Trailing blank and comment lines are not part of it.
func (f *file) blockEnd(n *yaml.Node) int {
	first := n.Line - 1
	col := n.Column - 1
	last := first
	for li := first + 1; li < len(f.lines); li++ {
		s, ind := f.lineText(li)
		if isDocMarker(s) {
			break
		}
		t := strings.TrimSpace(s)
		if t == "" || t[0] == '#' {
			continue
		}
		if ind < col {
			break
		}
		if n.Kind == yaml.SequenceNode && ind == col && !(t == "-" || strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "-\t")) {
			break
		}
		last = li
	}
	return last
}

// insertAfterLine returns a splice that adds text (whole lines, each ending
// in f.eol) after line li. On a last line without a final newline the file
// keeps having none.
func (f *file) insertAfterLine(li int, text string) splice {
	l := f.lines[li]
	if l.next > l.end {
		return splice{l.next, l.next, text}
	}
	return splice{l.end, l.end, f.eol + strings.TrimSuffix(text, f.eol)}
}

// deleteLine returns a splice that removes line li entirely.
func (f *file) deleteLine(li int) splice {
	l := f.lines[li]
	if l.next > l.end || li == 0 {
		return splice{l.start, l.next, ""}
	}
	// Last line without a break: take the previous line's break instead.
	return splice{f.lines[li-1].end, l.end, ""}
}

// style is the indentation a file already uses, for generated blocks.
type style struct {
	mapIndent int // child key column minus parent key column
	seqIndent int // dash column minus parent key column (0: non-indented)
	seqKnown  bool
}

func detectStyle(root *yaml.Node) style {
	st := style{mapIndent: 2}
	mapKnown := false
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		if n == nil || depth > 50 || (mapKnown && st.seqKnown) {
			return
		}
		if n.Kind == yaml.MappingNode && n.Style&yaml.FlowStyle == 0 {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if v.Line > k.Line && v.Style&yaml.FlowStyle == 0 {
					switch v.Kind {
					case yaml.MappingNode:
						if !mapKnown && v.Column > k.Column {
							st.mapIndent, mapKnown = v.Column-k.Column, true
						}
					case yaml.SequenceNode:
						if !st.seqKnown && v.Column >= k.Column {
							st.seqIndent, st.seqKnown = v.Column-k.Column, true
						}
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c, depth+1)
		}
	}
	walk(root, 0)
	return st
}

// splice replaces src[start:end] with text.
type splice struct {
	start, end int
	text       string
}

func apply(src []byte, sp []splice) ([]byte, error) {
	sort.SliceStable(sp, func(i, j int) bool { return sp[i].start < sp[j].start })
	var b bytes.Buffer
	b.Grow(len(src) + 256)
	prev := 0
	for _, s := range sp {
		if s.start < prev || s.end < s.start || s.end > len(src) {
			return nil, errors.New("internal error: overlapping edits")
		}
		b.Write(src[prev:s.start])
		b.WriteString(s.text)
		prev = s.end
	}
	b.Write(src[prev:])
	return b.Bytes(), nil
}

var (
	yaml11Num = regexp.MustCompile(`^[-+]?(` +
		`[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?` + // ints, floats, underscores, leading zeros (octal)
		`|0[xX][0-9a-fA-F_]+|0b[01_]+` +
		`|[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?` + // sexagesimal
		`)$`)
	yaml11Bool = map[string]bool{
		"y": true, "Y": true, "yes": true, "Yes": true, "YES": true,
		"n": true, "N": true, "no": true, "No": true, "NO": true,
		"on": true, "On": true, "ON": true, "off": true, "Off": true, "OFF": true,
	}
)

// needsQuote reports whether v written plain would not read back as the
// same string, under YAML 1.2 (kyaml) or YAML 1.1 (Helm's parser).
func needsQuote(v string) bool {
	if v == "" || yaml11Bool[v] || yaml11Num.MatchString(v) {
		return true
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(v), &n); err != nil || len(n.Content) != 1 {
		return true
	}
	c := n.Content[0]
	return c.Kind != yaml.ScalarNode || c.Tag != "!!str" || c.Value != v || c.Style != 0
}

// render writes v as a scalar in the style of old (nil: a new scalar).
// Callers only pass values checked against narrow character sets, so no
// escaping is ever needed inside quotes.
func render(v string, old *yaml.Node, flow bool) string {
	if old != nil {
		switch {
		case old.Style&yaml.DoubleQuotedStyle != 0:
			return `"` + v + `"`
		case old.Style&yaml.SingleQuotedStyle != 0:
			return "'" + v + "'"
		}
	}
	if needsQuote(v) || (flow && strings.ContainsAny(v, ":,[]{}#")) {
		return `"` + v + `"`
	}
	return v
}

// replaceScalar returns the splice that writes v over scalar n.
func (f *file) replaceScalar(n *yaml.Node, v string, flow bool) (splice, error) {
	start, end, err := f.scalarSpan(n)
	if err != nil {
		return splice{}, err
	}
	return splice{start, end, render(v, n, flow)}, nil
}

// lookup returns the key and value nodes for key in mapping m.
func lookup(m *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Kind == yaml.ScalarNode && m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// addPairs returns the splice that adds key/value pairs to mapping m.
// Block mappings get new lines at the mapping's indentation after its last
// line; flow mappings get ", k: v" after the last pair. nested renders
// missing intermediate mappings (Helm) below the first key.
func (f *file) addPairs(m *yaml.Node, keys []string, value string, st style) (splice, error) {
	if m.Style&yaml.FlowStyle != 0 {
		text := keys[len(keys)-1] + ": " + render(value, nil, true)
		for i := len(keys) - 2; i >= 0; i-- {
			text = keys[i] + ": {" + text + "}"
		}
		if len(m.Content) == 0 {
			open, err := f.offset(m.Line, m.Column)
			if err != nil {
				return splice{}, err
			}
			for open < len(f.src) && f.src[open] != '{' {
				open++
			}
			return splice{open + 1, open + 1, text}, nil
		}
		end, err := f.nodeEnd(m.Content[len(m.Content)-1])
		if err != nil {
			return splice{}, err
		}
		return splice{end, end, ", " + text}, nil
	}
	if len(m.Content) == 0 {
		return splice{}, fmt.Errorf("line %d: empty block mapping", m.Line)
	}
	col := m.Column - 1
	return f.insertAfterLine(f.blockEnd(m), blockLines(keys, value, col, st.mapIndent, f.eol)), nil
}

// blockLines renders k1:\n  k2:\n    k3: value with each level indented.
func blockLines(keys []string, value string, col, step int, eol string) string {
	var b strings.Builder
	for i, k := range keys {
		b.WriteString(strings.Repeat(" ", col+i*step))
		b.WriteString(k)
		b.WriteString(":")
		if i == len(keys)-1 {
			b.WriteString(" ")
			b.WriteString(render(value, nil, false))
		}
		b.WriteString(eol)
	}
	return b.String()
}
