package indextts

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The real voice, fetched by scripts/fetch_assets.py; INDEXTTS_VOICE overrides it.
func voicePath() string {
	if v := os.Getenv("INDEXTTS_VOICE"); v != "" {
		return v
	}
	return filepath.Join("..", "..", "models", "assets", "voices", "en_US-joe-medium")
}

var (
	shared     *Synthesizer
	sharedOnce sync.Once
	sharedErr  error
)

func synth(t *testing.T) *Synthesizer {
	sharedOnce.Do(func() { shared, sharedErr = New(voicePath(), &Options{Threads: 2, Sessions: 2}) })
	if sharedErr != nil {
		t.Fatalf("loading the voice: %v", sharedErr)
	}
	return shared
}

func corpusLines(t *testing.T, name string) []string {
	f, err := os.Open(filepath.Join("..", "..", "..", "shared", "corpus", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		if line := strings.TrimSpace(scanner.Text()); line != "" {
			lines = append(lines, line)
		}
	}
	return lines
}

// checkSpeech: duration within 0.4x..2.5x of words / 2.7 per second, RMS above 0.02, no NaN,
// peak <= 1.0.
func checkSpeech(t *testing.T, text string, samples []float32, rate int) {
	t.Helper()
	if rate != 22050 {
		t.Errorf("%q: sample rate %d", text, rate)
	}
	var sum float64
	var peak float64
	for _, s := range samples {
		v := float64(s)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("%q: non-finite sample", text)
		}
		sum += v * v
		peak = math.Max(peak, math.Abs(v))
	}
	seconds := float64(len(samples)) / float64(rate)
	expected := float64(len(strings.Fields(text))) / 2.7
	rms := math.Sqrt(sum / float64(len(samples)))
	t.Logf("%.2f s (expected ~%.2f s), rms %.3f, peak %.3f: %s", seconds, expected, rms, peak, text)
	if seconds < 0.4*expected || seconds > 2.5*expected {
		t.Errorf("%q: %.2f s is not within 0.4x..2.5x of %.2f s", text, seconds, expected)
	}
	if rms <= 0.02 {
		t.Errorf("%q: RMS %.4f is near silence", text, rms)
	}
	if peak > 1.0 {
		t.Errorf("%q: peak %.3f", text, peak)
	}
}

func TestLimitMallocArenas(t *testing.T) {
	// The cap is set unless the environment chose (glibc on Linux, where the tests run).
	if want := os.Getenv("MALLOC_ARENA_MAX") == ""; LimitMallocArenas() != want {
		t.Fatalf("LimitMallocArenas() = %v with MALLOC_ARENA_MAX=%q", !want, os.Getenv("MALLOC_ARENA_MAX"))
	}
}

func TestSynthesizeCorpusSentences(t *testing.T) {
	s := synth(t)
	for _, text := range corpusLines(t, "en_sentences.txt") {
		audio, err := s.Synthesize(text, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkSpeech(t, text, audio.Samples, audio.SampleRate)
	}
}

func TestStreamEqualsWhole(t *testing.T) {
	s := synth(t)
	text := strings.Join(corpusLines(t, "en_sentences.txt")[:3], " ")
	seed := uint64(11)
	opts := &SynthesisOptions{Seed: &seed}
	whole, err := s.Synthesize(text, opts)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := s.Stream(context.Background(), text, opts)
	if err != nil {
		t.Fatal(err)
	}
	var streamed []float32
	chunks := 0
	for chunk := range stream.Chunks() {
		streamed = append(streamed, chunk...)
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	checkSpeech(t, text, streamed, stream.SampleRate)
	if len(streamed) != len(whole.Samples) {
		t.Fatalf("stream %d samples, whole %d", len(streamed), len(whole.Samples))
	}
	worst := 0.0
	for i := range streamed {
		worst = math.Max(worst, math.Abs(float64(streamed[i]-whole.Samples[i])))
	}
	t.Logf("%d chunks; max abs difference from whole %g", chunks, worst)
	if worst > 1e-4 || chunks < 2 {
		t.Fatalf("stream differs from whole (%g) or came in %d chunks", worst, chunks)
	}
}

func TestTextStreamSpeaksWhileTextArrives(t *testing.T) {
	s := synth(t)
	text := strings.Join(corpusLines(t, "en_sentences.txt")[:2], " ")
	sink, audio, err := s.TextStream(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	defer audio.Close()
	done := make(chan error, 1)
	go func() {
		// Word by word, 40 ms apart; the audio of the first sentence comes before the text ends.
		for _, word := range strings.SplitAfter(text, " ") {
			if err := sink.Push(word); err != nil {
				done <- err
				return
			}
			time.Sleep(40 * time.Millisecond)
		}
		done <- sink.Finish()
	}()
	var heard []float32
	buf := make([]float32, 4096)
	textDone := false
	var beforeTextDone int
	for {
		n, err := audio.Next(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			textDone = true
			if err != nil {
				t.Fatal(err)
			}
		default:
		}
		if !textDone {
			beforeTextDone += n
		}
		heard = append(heard, buf[:n]...)
	}
	if !textDone {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	checkSpeech(t, text, heard, audio.SampleRate)
	t.Logf("%d of %d samples heard before the text was complete", beforeTextDone, len(heard))
	if beforeTextDone == 0 {
		t.Fatal("no audio came before the whole text had arrived")
	}
	if err := sink.Push("More."); err == nil {
		t.Fatal("a push after Finish was accepted")
	}
}

func TestContextCancelStopsTheStream(t *testing.T) {
	s := synth(t)
	if err := s.ClearCache(); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(corpusLines(t, "en_sentences.txt"), " ")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := s.Stream(ctx, text, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for chunk := range stream.Chunks() {
		got += len(chunk)
		cancel()
	}
	if !errors.Is(stream.Err(), context.Canceled) {
		t.Fatalf("Err() = %v, want context.Canceled", stream.Err())
	}
	if got == 0 || float64(got)/22050 > 10 {
		t.Fatalf("%d samples arrived after cancelling at the first chunk", got)
	}
}

func TestPullStreamReadsIntoSmallBuffers(t *testing.T) {
	s := synth(t)
	text := "Battery low. Please connect the charger."
	p, err := s.NewPullStream(text, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	buf := make([]float32, 100)
	var all []float32
	for {
		n, err := p.Next(buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 || n > len(buf) {
			t.Fatalf("Next gave %d samples for a buffer of %d", n, len(buf))
		}
		all = append(all, buf[:n]...)
	}
	checkSpeech(t, text, all, p.SampleRate)
	if _, err := p.Next(nil); err == nil {
		t.Fatal("a zero-length buffer was accepted")
	}
}

func TestCallbackCancelsAndRecoversPanics(t *testing.T) {
	s := synth(t)
	text := strings.Join(corpusLines(t, "en_sentences.txt")[:4], " ")
	var all []float32
	if err := s.SynthesizeFunc(text, nil, func(chunk []float32) bool {
		all = append(all, chunk...)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	checkSpeech(t, text, all, 22050)

	calls := 0
	err := s.SynthesizeFunc(text+" And one more.", nil, func([]float32) bool { calls++; return false })
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusCancelled || calls != 1 {
		t.Fatalf("cancel: err %v after %d calls", err, calls)
	}

	err = s.SynthesizeFunc("A panic in the callback.", nil, func([]float32) bool { panic("listener bug") })
	if err == nil || !strings.Contains(err.Error(), "listener bug") {
		t.Fatalf("panic: err %v", err)
	}
}

func TestErrorsCarryTheLibrarysMessage(t *testing.T) {
	if _, err := New("/nonexistent/voice", nil); err == nil {
		t.Fatal("a missing voice loaded")
	} else if e := (*Error)(nil); !errors.As(err, &e) || e.Status != StatusVoiceNotFound ||
		!strings.Contains(e.Message, "/nonexistent/voice") {
		t.Fatalf("missing voice: %v", err)
	}
	s := synth(t)
	nan := float32(math.NaN())
	negative := float32(-1)
	cases := []struct {
		text string
		opts *SynthesisOptions
		want Status
	}{
		{"", nil, StatusEmptyText},
		{" \n\t", nil, StatusEmptyText},
		{"caf\xe9 au lait", nil, StatusInvalidUTF8},
		{strings.Repeat("word ", 200_001), nil, StatusTextTooLong},
		{"Hello.", &SynthesisOptions{LengthScale: nan}, StatusInvalidOption},
		{"Hello.", &SynthesisOptions{NoiseScale: &negative}, StatusInvalidOption},
		{"Hello.", &SynthesisOptions{Speaker: "7"}, StatusUnknownSpeaker},
	}
	for _, c := range cases {
		_, err := s.Synthesize(c.text, c.opts)
		var e *Error
		if !errors.As(err, &e) || e.Status != c.want || e.Message == "" {
			t.Errorf("%.20q: err %v, want status %v", c.text, err, c.want)
			continue
		}
		t.Logf("%v: %s", e.Status, e.Message)
	}
}

func TestGoroutinesShareOneSynthesizer(t *testing.T) {
	s := synth(t)
	texts := corpusLines(t, "en_sentences.txt")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			text := texts[i%len(texts)]
			if i%2 == 0 {
				audio, err := s.Synthesize(text, nil)
				if err != nil {
					errs <- err
					return
				}
				checkSpeech(t, text, audio.Samples, audio.SampleRate)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			stream, err := s.Stream(ctx, text, nil)
			if err != nil {
				errs <- err
				return
			}
			var all []float32
			for chunk := range stream.Chunks() {
				all = append(all, chunk...)
			}
			if err := stream.Err(); err != nil {
				errs <- err
				return
			}
			checkSpeech(t, text, all, stream.SampleRate)
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	stats, err := s.MemoryCacheStats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cache: %d hits, %d misses", stats.Hits, stats.Misses)
}

// readChunks reads a pull stream to its end with NextChunk.
func readChunks(t *testing.T, s *Synthesizer, text string) (samples []float32, words []Word, phonemes []Phoneme) {
	t.Helper()
	p, err := s.NewPullStream(text, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for {
		c, err := p.NextChunk()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if c.StartSample != uint64(len(samples)) {
			t.Fatalf("chunk starts at %d after %d samples", c.StartSample, len(samples))
		}
		samples = append(samples, c.Samples...)
		words = append(words, c.Words...)
		phonemes = append(phonemes, c.Phonemes...)
	}
}

func TestChunksCarryWordAndPhonemeMarks(t *testing.T) {
	s := synth(t)
	text := strings.Join(corpusLines(t, "en_sentences.txt")[:3], " ")
	samples, words, phonemes := readChunks(t, s, text)
	checkSpeech(t, text, samples, s.SampleRate())
	if want := len(strings.Fields(text)); len(words) != want {
		t.Fatalf("%d words marked, the text has %d", len(words), want)
	}
	next := 0
	for i, w := range words {
		if text[w.TextStart:w.TextEnd] != w.Text {
			t.Errorf("word %d (%q) points at %q", i, w.Text, text[w.TextStart:w.TextEnd])
		}
		if w.StartSample >= w.EndSample || w.EndSample > uint64(len(samples)) ||
			(i > 0 && w.StartSample < words[i-1].EndSample) {
			t.Errorf("word %d (%q) at %d..%d is out of place", i, w.Text, w.StartSample, w.EndSample)
		}
		for next < len(phonemes) && phonemes[next].StartSample < w.StartSample {
			next++
		}
		if next == len(phonemes) || phonemes[next].StartSample != w.StartSample {
			t.Errorf("word %d (%q) starts where no phoneme does", i, w.Text)
		}
	}
	for i, p := range phonemes {
		if p.Phoneme == "" || p.StartSample > p.EndSample || (i > 0 && p.StartSample < phonemes[i-1].EndSample) {
			t.Errorf("phoneme %d (%q) at %d..%d is out of place", i, p.Phoneme, p.StartSample, p.EndSample)
		}
	}
	t.Logf("%d words, %d phonemes in %.2f s", len(words), len(phonemes), float64(len(samples))/float64(s.SampleRate()))
}

func TestLexiconOptionChangesThePhonemes(t *testing.T) {
	const ipa = "təmˈɑːtoʊ"
	lexicon := filepath.Join(t.TempDir(), "lexicon.tsv")
	if err := os.WriteFile(lexicon, []byte("tomato\t"+ipa+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := New(voicePath(), &Options{Threads: 2, Lexicon: lexicon})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, words, phonemes := readChunks(t, s, "tomato")
	if len(words) != 1 {
		t.Fatalf("%d words marked", len(words))
	}
	var said strings.Builder
	for _, p := range phonemes {
		if p.StartSample >= words[0].StartSample && p.StartSample < words[0].EndSample {
			said.WriteString(p.Phoneme)
		}
	}
	if said.String() != ipa {
		t.Fatalf("tomato said as /%s/, the lexicon says /%s/", said.String(), ipa)
	}
	if _, err := New(voicePath(), &Options{Lexicon: filepath.Join(t.TempDir(), "missing.tsv")}); err == nil {
		t.Fatal("a missing lexicon was accepted")
	}
}
