package commands

import "strings"

// scanner walks a comment line by line and tells which lines are plain
// paragraph text, the only place a command may be written. It follows the
// CommonMark block rules that matter for commands: fenced code (``` and
// ~~~), indented code, block quotes with their lazy continuation lines and
// HTML comments. It is deliberately not a full Markdown parser.
type scanner struct {
	fence *fence // open fenced code block, nil outside
	html  bool   // inside a multi-line HTML comment
	// lazy is set after a quoted paragraph line: CommonMark continues that
	// paragraph (inside the quote) on a following unquoted text line.
	lazy bool
}

type fence struct {
	char   byte // '`' or '~'
	n      int  // length of the opening run
	quoted bool // opened inside a block quote
}

// text reports whether line (without its line ending) is plain text outside
// any code block, quote or comment, and returns it without its indentation.
func (s *scanner) text(line string) (string, bool) {
	if s.html {
		if strings.Contains(line, "-->") {
			s.html = false
		}
		return "", false
	}
	inner, quoted := stripQuotes(line)
	if f := s.fence; f != nil {
		switch {
		case !f.quoted:
			if f.closes(line) {
				s.fence = nil
			}
			return "", false
		case !quoted:
			// The quote ends at an unquoted line, and its code block with it:
			// code blocks have no lazy continuation.
			s.fence = nil
		default:
			if f.closes(inner) {
				s.fence = nil
			}
			return "", false
		}
	}
	if quoted {
		s.lazy = false
		if f, ok := openFence(inner); ok {
			s.fence = &fence{char: f.char, n: f.n, quoted: true}
		} else if cols, rest := indent(inner); cols < 4 && rest != "" && rest[0] != '#' {
			s.lazy = true
		}
		return "", false
	}
	cols, rest := indent(line)
	if rest == "" {
		s.lazy = false
		return "", false
	}
	if cols >= 4 {
		// Indented code, or the continuation of a paragraph: either way
		// not a command line (at most three spaces before the slash).
		return "", false
	}
	if f, ok := openFence(line); ok {
		s.fence = &fence{char: f.char, n: f.n}
		s.lazy = false
		return "", false
	}
	if strings.HasPrefix(rest, "<!--") {
		s.html = !strings.Contains(rest, "-->")
		s.lazy = false
		return "", false
	}
	if s.lazy {
		return "", false
	}
	return rest, true
}

// indent returns the indentation width in columns (tabs stop every four
// columns) and the rest of s after it.
func indent(s string) (int, string) {
	cols := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ':
			cols++
		case '\t':
			cols += 4 - cols%4
		default:
			return cols, s[i:]
		}
	}
	return cols, ""
}

// stripQuotes removes the block-quote markers ("> ", any nesting) from the
// start of s and reports whether there were any.
func stripQuotes(s string) (string, bool) {
	quoted := false
	for {
		cols, rest := indent(s)
		if cols > 3 || rest == "" || rest[0] != '>' {
			return s, quoted
		}
		quoted = true
		s = rest[1:]
		if s != "" && (s[0] == ' ' || s[0] == '\t') {
			s = s[1:]
		}
	}
}

// openFence reports whether s opens a fenced code block: up to three spaces,
// then three or more backticks or tildes; a backtick fence's info string
// may not contain a backtick.
func openFence(s string) (fence, bool) {
	cols, rest := indent(s)
	if cols > 3 || rest == "" || (rest[0] != '`' && rest[0] != '~') {
		return fence{}, false
	}
	c := rest[0]
	n := run(rest, c)
	if n < 3 || (c == '`' && strings.IndexByte(rest[n:], '`') >= 0) {
		return fence{}, false
	}
	return fence{char: c, n: n}, true
}

// closes reports whether s closes f: up to three spaces, a run of f's
// character at least as long as the opening one, then only spaces or tabs.
func (f *fence) closes(s string) bool {
	cols, rest := indent(s)
	if cols > 3 {
		return false
	}
	n := run(rest, f.char)
	return n >= f.n && strings.Trim(rest[n:], " \t") == ""
}

func run(s string, c byte) int {
	n := 0
	for n < len(s) && s[n] == c {
		n++
	}
	return n
}
