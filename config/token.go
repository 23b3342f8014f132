package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// maxTokenFile bounds what BearerToken reads: a token is a line, not a file's worth.
const maxTokenFile = 4 << 10

// BearerToken returns the token the HTTP API requires: api.token, else the
// first line of api.token_file (surrounding spaces trimmed), else "". A
// token file that is missing, empty or too long is an error, which does not
// name the key: the caller does.
func (a API) BearerToken() (string, error) {
	if a.Token != "" || a.TokenFile == "" {
		return a.Token, nil
	}
	data, err := os.ReadFile(a.TokenFile)
	if err != nil {
		return "", err
	}
	if len(data) > maxTokenFile {
		return "", fmt.Errorf("%s: longer than %d bytes; it should hold one line, the token", a.TokenFile, maxTokenFile)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	token := strings.TrimSpace(line)
	if token == "" {
		return "", errors.New(a.TokenFile + ": the first line is empty; it should hold the token")
	}
	return token, nil
}
