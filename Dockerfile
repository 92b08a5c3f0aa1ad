# sysemu node image (used by docker-compose.yml).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /out/sysemu ./cmd/sysemu

FROM debian:bookworm-slim
COPY --from=build /out/sysemu /usr/local/bin/sysemu
EXPOSE 3306 4000
ENTRYPOINT ["sysemu"]
CMD ["serve", "--mysql-addr", "0.0.0.0:3306", "--http-addr", "0.0.0.0:4000", "--data-dir", "/data"]
