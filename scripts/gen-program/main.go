// Command gen-program turns a PCL program into a TypeScript one, as the GenerateProgram RPC of Pulumi's Go
// pulumi-language-nodejs does (`pulumi import` and `pulumi convert` call it). Our Node.js language host
// (scripts/language-host/main.ts) runs it because that Go host is a module the Go module proxy does not serve.
//
// stdin:  a pulumirpc.GenerateProgramRequest in protobuf's JSON mapping:
//
//	{"source": {"main.pp": "<PCL>"}, "loaderTarget": "127.0.0.1:PORT", "strict": false}
//
// stdout: a pulumirpc.GenerateProgramResponse in the same mapping, enums as numbers, file contents base64:
//
//	{"source": {"index.ts": "<base64>"}, "diagnostics": [{"severity": 1, "summary": "...", ...}]}
//
// Problems in the program come back as diagnostics (exit 0); anything else (bad input, no loader) is
// printed on stderr with exit status 1. The schemas of the packages the program uses come from the
// engine's schema loader service at loaderTarget. scripts/gen-program/build.sh builds and caches it.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pulumi/pulumi/pkg/v3/codegen/hcl2/syntax"
	nodejs "github.com/pulumi/pulumi/pkg/v3/codegen/nodejs"
	"github.com/pulumi/pulumi/pkg/v3/codegen/pcl"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/encoding/protojson"
)

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "gen-program: %v\n", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	raw, err := io.ReadAll(in)
	if err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	var req pulumirpc.GenerateProgramRequest
	if err := protojson.Unmarshal(raw, &req); err != nil {
		return fmt.Errorf("decoding the request: %w", err)
	}
	resp, err := generate(&req)
	if err != nil {
		return err
	}
	encoded, err := protojson.MarshalOptions{UseEnumNumbers: true}.Marshal(resp)
	if err != nil {
		return fmt.Errorf("encoding the response: %w", err)
	}
	_, err = out.Write(append(encoded, '\n'))
	return err
}

// generate follows pulumi-language-nodejs's GenerateProgram at the same pkg/v3 version.
func generate(req *pulumirpc.GenerateProgramRequest) (*pulumirpc.GenerateProgramResponse, error) {
	if req.LoaderTarget == "" {
		return nil, errors.New("the request has no loaderTarget (the engine's schema loader address)")
	}
	loader, err := schema.NewLoaderClient(req.LoaderTarget)
	if err != nil {
		return nil, fmt.Errorf("connecting to the schema loader at %s: %w", req.LoaderTarget, err)
	}
	defer loader.Close()

	parser := syntax.NewParser()
	for name, text := range req.Source {
		if err := parser.ParseFile(strings.NewReader(text), name); err != nil {
			return nil, fmt.Errorf("parsing %s: %w", name, err)
		}
	}
	if parser.Diagnostics.HasErrors() {
		return &pulumirpc.GenerateProgramResponse{
			Diagnostics: plugin.HclDiagnosticsToRPCDiagnostics(parser.Diagnostics),
		}, nil
	}

	// Output-versioned invokes are what the Node.js host asks for too.
	options := []pcl.BindOption{pcl.PreferOutputVersionedInvokes}
	if !req.Strict {
		options = append(options, pcl.NonStrictBindOptions()...)
	}
	program, diags, err := pcl.BindProgram(parser.Files, schema.NewCachedLoader(loader), options...)
	if err != nil {
		return nil, fmt.Errorf("binding the program: %w", err)
	}
	rpcDiags := plugin.HclDiagnosticsToRPCDiagnostics(diags)
	if diags.HasErrors() {
		return &pulumirpc.GenerateProgramResponse{Diagnostics: rpcDiags}, nil
	}
	if program == nil {
		return nil, errors.New("binding returned no program and no error")
	}

	files, genDiags, err := nodejs.GenerateProgram(program)
	if err != nil {
		return nil, fmt.Errorf("generating TypeScript: %w", err)
	}
	return &pulumirpc.GenerateProgramResponse{
		Source:      files,
		Diagnostics: append(rpcDiags, plugin.HclDiagnosticsToRPCDiagnostics(genDiags)...),
	}, nil
}
