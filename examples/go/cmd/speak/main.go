// Command speak says a text into a WAV file with the Go bindings, streaming.
//
//	go run ./cmd/speak -voice ../../models/assets/voices/en_US-joe-medium -o hello.wav "Hello from Go."
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"os"
	"time"

	"indextts.dev/indextts"
)

func main() {
	voice := flag.String("voice", "../../models/assets/voices/en_US-joe-medium", "voice directory or .onnx")
	out := flag.String("o", "out.wav", "output WAV file")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: speak [-voice DIR] [-o OUT.wav] TEXT")
		os.Exit(2)
	}
	if err := run(*voice, *out, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "speak:", err)
		os.Exit(1)
	}
}

func run(voice, out, text string) error {
	synth, err := indextts.New(voice, &indextts.Options{Threads: 2})
	if err != nil {
		return err
	}
	defer synth.Close()
	start := time.Now()
	stream, err := synth.Stream(context.Background(), text, nil)
	if err != nil {
		return err
	}
	var samples []float32
	for chunk := range stream.Chunks() {
		if samples == nil {
			fmt.Printf("first audio after %v\n", time.Since(start).Round(time.Millisecond))
		}
		samples = append(samples, chunk...)
	}
	if err := stream.Err(); err != nil {
		return err
	}
	fmt.Printf("%.2f s of audio in %v\n", float64(len(samples))/float64(stream.SampleRate), time.Since(start).Round(time.Millisecond))
	return writeWav(out, samples, stream.SampleRate)
}

func writeWav(path string, samples []float32, rate int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	data := uint32(len(samples) * 2)
	header := []interface{}{
		[4]byte{'R', 'I', 'F', 'F'}, 36 + data, [4]byte{'W', 'A', 'V', 'E'},
		[4]byte{'f', 'm', 't', ' '}, uint32(16), uint16(1), uint16(1), uint32(rate),
		uint32(rate * 2), uint16(2), uint16(16), [4]byte{'d', 'a', 't', 'a'}, data,
	}
	for _, v := range header {
		if err := binary.Write(f, binary.LittleEndian, v); err != nil {
			return err
		}
	}
	pcm := make([]int16, len(samples))
	for i, s := range samples {
		pcm[i] = int16(math.Round(math.Max(-1, math.Min(1, float64(s))) * 32767))
	}
	if err := binary.Write(f, binary.LittleEndian, pcm); err != nil {
		return err
	}
	return f.Close()
}
