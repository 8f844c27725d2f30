// TLS on the listener: a self-signed certificate made here with the openssl CLI; HTTPS works,
// plain HTTP on the same port gets no answer.
#include <cpprest/http_client.h>

#include <cstdlib>

#include "tests/e2e/fixture.h"
#include "tests/support/model_builder.h"

namespace aifgen::e2e {
namespace {

class TlsE2E : public ServerTest {
 protected:
  std::vector<std::string> server_args() const override {
    const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + dir_.path() + "/key.pem -out " +
                            dir_.path() + "/cert.pem -days 1 -subj /CN=127.0.0.1 >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) ADD_FAILURE() << "openssl could not make a test certificate";
    return {"--tls-cert", dir_.path() + "/cert.pem", "--tls-key", dir_.path() + "/key.pem"};
  }
  bool tls() const override { return true; }
};

TEST_F(TlsE2E, HttpsServesAndPlainHttpIsRefused) {
  EXPECT_EQ(server_->base_url().rfind("https://", 0), 0u);
  EXPECT_EQ(http().get("/healthz").status, 200);
  auto up = http().upload(testing::serialize(testing::conv_bn_relu_model()), "over-tls");
  EXPECT_EQ(up.status, 201);
  web::http::client::http_client_config cfg;
  cfg.set_timeout(std::chrono::seconds(5));
  web::http::client::http_client plain(server_->plain_url(), cfg);
  EXPECT_ANY_THROW(plain.request(web::http::methods::GET, "/healthz").get());
  EXPECT_NE(server_->log().find("listening on https://"), std::string::npos);
}

}  // namespace
}  // namespace aifgen::e2e
