#include "core/engine/registry.h"

namespace aifgen::engine {

const KernelTable& kernel_table() {
  static const KernelTable table = [] {
    KernelTable t;
    register_elementwise_kernels(t);
    register_shape_kernels(t);
    register_conv_kernels(t);
    register_matmul_kernels(t);
    register_pool_kernels(t);
    register_normalization_kernels(t);
    register_reduce_kernels(t);
    register_resize_kernels(t);
    register_quantize_kernels(t);
    register_pad_kernels(t);
    register_scatter_kernels(t);
    register_einsum_kernels(t);
    register_recurrent_kernels(t);
    register_selection_kernels(t);
    register_roi_kernels(t);
    return t;
  }();
  return table;
}

}  // namespace aifgen::engine
