module indextts.dev/indextts

go 1.19
