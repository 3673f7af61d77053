#include "audio/mp3.hpp"

#include <lame/lame.h>
#include <mpg123.h>

#include <algorithm>
#include <array>
#include <cstdarg>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

namespace vox::audio {
namespace {

constexpr std::array<int, 14> kMpeg1Bitrates = {32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320};
constexpr std::array<int, 14> kMpeg2Bitrates = {8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160};

// lame's default report functions print to stderr; a library should stay quiet.
void lame_silent(const char*, va_list) {}

// Input samples per lame call, keeping lame's int sizes and our output buffer bounded.
constexpr std::size_t kLameChunk = 1 << 15;

// lame's documented worst case for the MP3 bytes produced from `samples` input samples.
std::size_t lame_buffer_size(std::size_t samples) { return samples + samples / 4 + 7200; }

}  // namespace

bool mp3_rate_and_bitrate_valid(int sample_rate, int bitrate_kbps) {
  switch (sample_rate) {
    case 32000:
    case 44100:
    case 48000:
      return std::find(kMpeg1Bitrates.begin(), kMpeg1Bitrates.end(), bitrate_kbps) != kMpeg1Bitrates.end();
    case 8000:
    case 11025:
    case 12000:
    case 16000:
    case 22050:
    case 24000:
      return std::find(kMpeg2Bitrates.begin(), kMpeg2Bitrates.end(), bitrate_kbps) != kMpeg2Bitrates.end();
    default:
      return false;
  }
}

Mp3Encoder::Mp3Encoder(int sample_rate, int bitrate_kbps) : sample_rate_(sample_rate), bitrate_kbps_(bitrate_kbps) {
  if (!mp3_rate_and_bitrate_valid(sample_rate, bitrate_kbps))
    throw std::invalid_argument("Mp3Encoder: unsupported sample rate " + std::to_string(sample_rate) +
                                " Hz with " + std::to_string(bitrate_kbps) + " kbps");
  lame_ = lame_init();
  if (!lame_) throw std::runtime_error("Mp3Encoder: lame_init failed");
  lame_set_errorf(lame_, lame_silent);
  lame_set_debugf(lame_, lame_silent);
  lame_set_msgf(lame_, lame_silent);
  lame_set_num_channels(lame_, 1);
  lame_set_mode(lame_, MONO);
  lame_set_in_samplerate(lame_, sample_rate);
  lame_set_out_samplerate(lame_, sample_rate);
  lame_set_VBR(lame_, vbr_off);
  lame_set_brate(lame_, bitrate_kbps);
  lame_set_quality(lame_, 5);        // lame's "-q 5": a good speed/quality balance for speech
  lame_set_bWriteVbrTag(lame_, 0);   // no Xing/Info placeholder frame: the output is streamed
  if (lame_init_params(lame_) < 0) {
    lame_close(lame_);
    lame_ = nullptr;
    throw std::runtime_error("Mp3Encoder: lame_init_params rejected the settings");
  }
}

Mp3Encoder::~Mp3Encoder() {
  if (lame_) lame_close(lame_);
}

Mp3Encoder::Mp3Encoder(Mp3Encoder&& other) noexcept
    : lame_(std::exchange(other.lame_, nullptr)),
      sample_rate_(other.sample_rate_),
      bitrate_kbps_(other.bitrate_kbps_),
      flushed_(other.flushed_) {}

Mp3Encoder& Mp3Encoder::operator=(Mp3Encoder&& other) noexcept {
  if (this != &other) {
    if (lame_) lame_close(lame_);
    lame_ = std::exchange(other.lame_, nullptr);
    sample_rate_ = other.sample_rate_;
    bitrate_kbps_ = other.bitrate_kbps_;
    flushed_ = other.flushed_;
  }
  return *this;
}

std::vector<std::uint8_t> Mp3Encoder::encode(std::span<const std::int16_t> pcm) {
  if (!lame_) throw std::logic_error("Mp3Encoder::encode: moved-from encoder");
  if (flushed_) throw std::logic_error("Mp3Encoder::encode: called after flush()");
  std::vector<std::uint8_t> out;
  std::size_t used = 0;
  for (std::size_t pos = 0; pos < pcm.size(); pos += kLameChunk) {
    const std::size_t n = std::min(kLameChunk, pcm.size() - pos);
    const std::size_t room = lame_buffer_size(n);
    out.resize(used + room);
    // Mono: lame reads only the left channel, but pass the same buffer twice rather than a null.
    const short* samples = pcm.data() + pos;
    const int bytes = lame_encode_buffer(lame_, samples, samples, static_cast<int>(n), out.data() + used,
                                         static_cast<int>(room));
    if (bytes < 0) throw std::runtime_error("Mp3Encoder::encode: lame_encode_buffer failed (" + std::to_string(bytes) + ")");
    used += static_cast<std::size_t>(bytes);
  }
  out.resize(used);
  return out;
}

std::vector<std::uint8_t> Mp3Encoder::flush() {
  if (!lame_ || flushed_) return {};
  flushed_ = true;
  std::vector<std::uint8_t> out(lame_buffer_size(2 * 1152));
  const int bytes = lame_encode_flush(lame_, out.data(), static_cast<int>(out.size()));
  if (bytes < 0) throw std::runtime_error("Mp3Encoder::flush: lame_encode_flush failed (" + std::to_string(bytes) + ")");
  out.resize(static_cast<std::size_t>(bytes));
  return out;
}

std::vector<std::int16_t> decode_mp3(std::span<const std::uint8_t> mp3, int& sample_rate) {
  static std::once_flag init_once;
  std::call_once(init_once, [] { mpg123_init(); });  // a no-op since mpg123 1.27, needed before

  int err = MPG123_OK;
  std::unique_ptr<mpg123_handle, decltype(&mpg123_delete)> mh(mpg123_new(nullptr, &err), &mpg123_delete);
  if (!mh) throw std::runtime_error(std::string("decode_mp3: mpg123_new: ") + mpg123_plain_strerror(err));
  const auto fail = [&](const char* what) -> std::runtime_error {
    return std::runtime_error(std::string("decode_mp3: ") + what + ": " + mpg123_strerror(mh.get()));
  };
  // Quiet, mono (stereo mixed down), signed 16-bit, at whatever standard rate the stream has.
  if (mpg123_param(mh.get(), MPG123_ADD_FLAGS, MPG123_QUIET | MPG123_MONO_MIX, 0.0) != MPG123_OK ||
      mpg123_format_none(mh.get()) != MPG123_OK)
    throw fail("cannot configure the decoder");
  const long* rates = nullptr;
  std::size_t rate_count = 0;
  mpg123_rates(&rates, &rate_count);
  for (std::size_t i = 0; i < rate_count; ++i)
    if (mpg123_format(mh.get(), rates[i], MPG123_MONO, MPG123_ENC_SIGNED_16) != MPG123_OK)
      throw fail("cannot configure the output format");
  if (mpg123_open_feed(mh.get()) != MPG123_OK) throw fail("mpg123_open_feed");

  std::vector<std::int16_t> pcm;
  std::array<std::int16_t, 8192> buf;
  long rate = 0;
  const unsigned char* in = mp3.data();
  std::size_t in_size = mp3.size();
  for (;;) {
    std::size_t done = 0;
    const int rc = mpg123_decode(mh.get(), in, in_size, buf.data(), sizeof buf, &done);
    in = nullptr;  // everything was handed over on the first call
    in_size = 0;
    if (rc == MPG123_ERR) throw fail("mpg123_decode");
    if (rc == MPG123_NEW_FORMAT) {
      long new_rate = 0;
      int channels = 0, encoding = 0;
      if (mpg123_getformat(mh.get(), &new_rate, &channels, &encoding) != MPG123_OK) throw fail("mpg123_getformat");
      if (rate != 0 && new_rate != rate) throw std::runtime_error("decode_mp3: sample rate changes mid-stream");
      rate = new_rate;
    }
    pcm.insert(pcm.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(done / sizeof(std::int16_t)));
    if (rc == MPG123_NEED_MORE || rc == MPG123_DONE) break;
    if (rc != MPG123_OK && rc != MPG123_NEW_FORMAT) throw fail("mpg123_decode");
  }
  if (rate <= 0 || rate > std::numeric_limits<int>::max())
    throw std::runtime_error("decode_mp3: no MPEG audio frames found");
  sample_rate = static_cast<int>(rate);
  return pcm;
}

}  // namespace vox::audio
