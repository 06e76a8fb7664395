package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/pluton-go/pluton/go/version"
)

func TestRun(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Equal(t, 0, run(nil, &out, &errb))
	v := version.Version
	assert.Equal(t, "plutonManager: "+v+"\nclientAPI: "+v+"\nserviceAPI: "+v+
		"\nLookup Map: /usr/local/var/pluton/lookup.map\nshmLookupMapVersion: 3001\nshmServiceVersion: 1\n", out.String())
	assert.Empty(t, errb.String())
	out.Reset()
	assert.Equal(t, 1, run([]string{"-x"}, &out, &errb))
	assert.Contains(t, errb.String(), "Usage: plVersion")
	assert.Equal(t, 0, run([]string{"-h"}, &out, &errb))
}
