/**
 * The `aws-chunked` body encoding with an unsigned payload and a trailing checksum
 * (`x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER`), which AWS SDKs use by default to upload a
 * stream (AWS SDK for JavaScript v3 since 3.729, boto3 since 1.36: "data integrity protections"). The S3
 * emulator reads only the signed chunk encoding, so the S3 front decodes this one: each chunk is
 * `<size in hex>\r\n<bytes>\r\n`, a zero-size chunk ends the data, and trailer lines such as
 * `x-amz-checksum-crc32:<base64>` follow, then an empty line.
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html)
 */
import { Transform, type TransformCallback } from "node:stream";
import { crc32 } from "node:zlib";

export const unsignedTrailerPayload = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

/**
 * Decodes an `aws-chunked` body into its data; the trailer lines are kept in `trailers`. A CRC32 trailer
 * (the SDKs' default algorithm) is checked, as S3 checks it, and a mismatch fails the stream; other
 * checksum algorithms pass unchecked.
 */
export class AwsChunkedDecoder extends Transform {
  readonly trailers: Record<string, string> = {};
  private pending = Buffer.alloc(0);
  /** Bytes of the current chunk still to come, or undefined while a size line is expected. */
  private chunkLeft: number | undefined;
  private dataEnded = false;
  private decodedBytes = 0;
  private dataCrc32 = 0;

  constructor(private readonly expectedBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.pending = Buffer.concat([this.pending, chunk]);
    try {
      this.consume();
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    if (!this.dataEnded || this.decodedBytes !== this.expectedBytes) {
      callback(
        new Error(
          `aws-chunked body ended after ${this.decodedBytes} of the ${this.expectedBytes} bytes ` +
            `x-amz-decoded-content-length announced`,
        ),
      );
      return;
    }
    const announced = this.trailers["x-amz-checksum-crc32"];
    if (announced !== undefined) {
      const computed = Buffer.alloc(4);
      computed.writeUInt32BE(this.dataCrc32 >>> 0);
      if (computed.toString("base64") !== announced) {
        callback(
          new Error(
            `aws-chunked body: CRC32 ${computed.toString("base64")} is not the announced ${announced}`,
          ),
        );
        return;
      }
    }
    callback();
  }

  private consume(): void {
    for (;;) {
      if (this.chunkLeft !== undefined && this.chunkLeft > 0) {
        if (this.pending.length === 0) return;
        const take = Math.min(this.chunkLeft, this.pending.length);
        const data = this.pending.subarray(0, take);
        this.dataCrc32 = crc32(data, this.dataCrc32);
        this.push(data);
        this.decodedBytes += take;
        this.chunkLeft -= take;
        this.pending = this.pending.subarray(take);
        continue;
      }
      const lineEnd = this.pending.indexOf("\r\n");
      if (lineEnd < 0) return;
      const line = this.pending.subarray(0, lineEnd).toString("latin1");
      this.pending = this.pending.subarray(lineEnd + 2);
      if (this.chunkLeft === 0) {
        // The CRLF after a chunk's data.
        if (line !== "") throw new Error("aws-chunked body: a chunk is longer than its size says");
        this.chunkLeft = undefined;
      } else if (this.dataEnded) {
        this.readTrailer(line);
      } else {
        const size = parseInt(line.split(";")[0], 16);
        if (!Number.isInteger(size) || size < 0)
          throw new Error(`aws-chunked body: bad chunk size "${line}"`);
        if (size === 0) this.dataEnded = true;
        else this.chunkLeft = size;
      }
    }
  }

  private readTrailer(line: string): void {
    if (line === "") return;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`aws-chunked body: bad trailer line "${line}"`);
    this.trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
}
