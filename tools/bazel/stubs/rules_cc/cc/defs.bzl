"""Stub of @rules_cc//cc:defs.bzl: forwards to Bazel's native C++ rules.

The native rules are what Bazel 4.2.3 has; buildifier's native-cc-* warnings
(aimed at Bazel 8+) are disabled one by one.
"""

def cc_binary(**attrs):
    # buildifier: disable=native-cc-binary
    native.cc_binary(**attrs)

def cc_import(**attrs):
    # buildifier: disable=native-cc-import
    native.cc_import(**attrs)

def cc_library(**attrs):
    # buildifier: disable=native-cc-library
    native.cc_library(**attrs)

def cc_proto_library(**attrs):
    # buildifier: disable=native-cc-proto
    native.cc_proto_library(**attrs)

def cc_test(**attrs):
    # buildifier: disable=native-cc-test
    native.cc_test(**attrs)

def cc_toolchain(**attrs):
    # buildifier: disable=native-cc-toolchain
    native.cc_toolchain(**attrs)

def cc_toolchain_suite(**attrs):
    # buildifier: disable=native-cc-toolchain-suite
    native.cc_toolchain_suite(**attrs)

def fdo_prefetch_hints(**attrs):
    # buildifier: disable=native-cc-fdo-prefetch-hints
    native.fdo_prefetch_hints(**attrs)

def fdo_profile(**attrs):
    # buildifier: disable=native-cc-fdo-profile
    native.fdo_profile(**attrs)

def objc_import(**attrs):
    # buildifier: disable=native-cc-objc-import
    native.objc_import(**attrs)

def objc_library(**attrs):
    # buildifier: disable=native-cc-objc-library
    native.objc_library(**attrs)
