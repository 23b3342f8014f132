package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// yaml.v3 numbers the lines of its parser's errors from 0 and those of its
// scanner's from 1, and prints both as "yaml: line N: problem". These are
// the parser's problems; every other one comes from the scanner.
var yamlParserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlSyntaxError wraps a YAML syntax error from file name, with the line
// number of a parser error made 1-based like every other line number.
func yamlSyntaxError(name string, err error) error {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	line, _ := strconv.Atoi(m[1])
	for _, p := range yamlParserProblems {
		if strings.HasPrefix(m[2], p) {
			line++
			break
		}
	}
	return fmt.Errorf("%s:%d: YAML syntax: %s", name, line, m[2])
}
